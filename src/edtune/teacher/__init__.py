"""edtune.teacher"""
