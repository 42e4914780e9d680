"""julep_nb.live"""
