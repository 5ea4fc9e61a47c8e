"""peacewatch.tenants"""
