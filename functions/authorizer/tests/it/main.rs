mod authorize;
