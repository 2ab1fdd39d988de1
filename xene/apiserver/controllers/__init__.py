"""Controllers that run on the elected replica; one module each, each with a `reconcile(key)`."""
