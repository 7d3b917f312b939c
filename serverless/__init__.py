"""Serverless functions and workflows on top of the orchestrator; imports only `minik8s.api`.

`funcserver.py` imports nothing of minik8s at all: it is the stdlib-only server that runs inside
every function instance, copied as source text next to the user's code.
"""
