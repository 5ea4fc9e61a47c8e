"""peacewatch.cli"""
