"""Test and benchmark helpers shipped with the package (the demo uses the simulated link)."""
