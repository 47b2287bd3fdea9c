"""Contained kernels: the jupyter_client manager, the fork server, the sandbox, leftover folders.
"""
