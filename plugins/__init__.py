"""Built-in provider plugins, each declared as an entry point in pyproject.toml.

The host never imports this package by name: it finds each plugin through the
``sms_delivery_exporter`` entry-point group, exactly as it finds third-party ones.
"""
