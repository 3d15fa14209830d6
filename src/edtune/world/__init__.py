"""edtune.world"""
