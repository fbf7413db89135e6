"""MiniWorld house simulator and scripted wearer that record sessions in format v1."""
