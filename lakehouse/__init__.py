"""peacewatch.lakehouse"""
