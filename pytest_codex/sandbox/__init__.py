"""The hardened executor: a fork server, isolated children, and a verdict decided by the trusted side.

Modules, by process: ``executor``, ``channel``, ``judge`` and ``timelimits`` run in the
trusted pytest process; ``server``, ``isolation``, ``linux`` and ``child`` run in the fork
server and its children (standard library only); ``wire`` is spoken by both.  This file
imports nothing so that the fork server stays small.
"""
