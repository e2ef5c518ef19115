"""Drive a deployed site: the load generator, the scalability sweep, resource sampling."""
