"""vigil_cli"""
