"""Settings for every test run, unit tests and notebooks alike.

The notebooks are Otter-Grader masters: executing one with nbval runs every exercise's tests,
public and hidden, on the instructor's answer (camlib.lab.exercises), so a wrong solution fails the run.
"""
