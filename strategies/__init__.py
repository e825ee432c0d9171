"""Strategies and what grows from them: definitions, registrations, templates, back-tests,
executions, follows."""
