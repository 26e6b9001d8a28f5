"""Every performance shortcut that reaches into framework internals, behind one switch
(FAST_PATHS)."""
