"""Layer 6, the verbs: many archives at once (``many``, ``scan``), rewriting (``pack``),
comparing with the s3fs chain (``compare``); over the installed zarr's front end
(``frontends``) or no zarr at all."""
