"""julep_nb.local"""
