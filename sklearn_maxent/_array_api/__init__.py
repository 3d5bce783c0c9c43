"""Arrays of other namespaces (the array API): their handling, the device objective, NumPy copies."""
