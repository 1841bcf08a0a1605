"""Where the policies keep their state: in this process (the default) or shared on Redis."""
