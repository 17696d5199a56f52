"""The OpenImageIO module, imported when first needed."""


def oiio_module():
    """OpenImageIO, imported lazily so that importing the engine stays cheap."""
    import OpenImageIO

    return OpenImageIO
