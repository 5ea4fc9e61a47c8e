"""peacewatch.lakehouse.query"""
