"""peacewatch.functions"""
