"""peacewatch.functions.deploy"""
