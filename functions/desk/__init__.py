"""peacewatch.functions.desk"""
