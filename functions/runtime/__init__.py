"""peacewatch.functions.runtime"""
