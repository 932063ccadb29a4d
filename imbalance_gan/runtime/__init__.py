"""Trainer building, resilience, atomic files and user errors: what every command runs on."""
