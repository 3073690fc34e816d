"""The git skill: read the training repos freely; change them only through the write gate."""
