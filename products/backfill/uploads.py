"""Uploaded CSV files, kept in Django's default storage until their run ends.

The web process that receives an upload and the worker that imports it may be
on different machines: the file goes through `STORAGES["default"]` (a local
folder by default; a shared volume or S3-compatible storage in production).
Django's upload handler has already spooled the body to a temporary file, and
the storage copies it in chunks (on a local folder, it moves it): no file is
read whole into memory. A file is deleted when its run ends, whatever the
outcome; the run's record keeps its name, counts and rejected lines.
"""

import contextlib
import uuid

from django.conf import settings
from django.core.files.storage import default_storage
from django.utils import timezone
from django.utils.text import get_valid_filename


def store(upload):
    """Saves an uploaded file; returns its name in the storage."""
    safe = get_valid_filename(upload.name or "upload.csv")[-100:] or "upload.csv"
    folder = f"{settings.SHOP_BACKFILL_UPLOADS}/{timezone.now():%Y/%m/%d}"
    return default_storage.save(f"{folder}/{uuid.uuid4().hex}-{safe}", upload)


def open_stored(name):
    """The stored file, opened for binary reading."""
    return default_storage.open(name, "rb")


def discard(run):
    """Deletes a run's stored file (if any) and forgets it; a missing file is no error."""
    if not run.upload:
        return
    with contextlib.suppress(OSError):
        default_storage.delete(run.upload)
    type(run).objects.filter(pk=run.pk).update(upload="")
    run.upload = ""
