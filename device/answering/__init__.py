"""Answering: the assistant loop and its answerers (world model, retrieval baseline), place names."""
