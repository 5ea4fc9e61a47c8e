"""peacewatch.lakehouse.ingest"""
