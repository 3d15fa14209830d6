"""edtune.student"""
