"""Screens of the live app besides the main one."""
