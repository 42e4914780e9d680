"""julep_nb.magics"""
