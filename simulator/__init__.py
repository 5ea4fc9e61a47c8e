"""peacewatch.simulator"""
