"""edtune.skills"""
