"""julep_nb.display"""
