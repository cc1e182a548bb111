"""Ape scripts (`ape run deploy|orgs|demo|gas`); a package so shared helpers import as scripts._billchain."""
