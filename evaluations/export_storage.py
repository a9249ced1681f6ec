"""The local shape of the storage "exports" (settings.STORAGES): the bulk export's PDFs
and zips in the folder EXPORT_ROOT, through Django's storage API like any other store."""

import os
import tempfile

from django.conf import settings
from django.core.files.storage import FileSystemStorage
from django.utils.functional import cached_property


class ExportFolderStorage(FileSystemStorage):
    """Files under EXPORT_ROOT, the setting read when first used and again when it
    changes (as FileSystemStorage does for MEDIA_ROOT).

    An export's names are fixed by what the file holds (a PDF by its fingerprint) or by
    its job (the zip): saving a name again replaces the file with the same content. So
    a file is written under a temporary name in its folder and moved into place: a
    download or another worker sees a whole PDF or zip or none, never a half-written
    one (FileSystemStorage writes to the final name, or truncates it to overwrite)."""

    def __init__(self, **options):
        options.setdefault("allow_overwrite", True)
        super().__init__(**options)

    @cached_property
    def base_location(self):
        return self._value_or_setting(self._location, settings.EXPORT_ROOT)

    def _clear_cached_properties(self, setting, **kwargs):
        super()._clear_cached_properties(setting, **kwargs)
        if setting == "EXPORT_ROOT":
            self.__dict__.pop("base_location", None)
            self.__dict__.pop("location", None)

    def _save(self, name, content):
        path = self.path(name)
        folder = os.path.dirname(path)
        os.makedirs(folder, exist_ok=True)
        if hasattr(content, "temporary_file_path"):
            # A finished file of this machine (the packed zip): moved into place in one
            # step where it lies on the same file system, copied below otherwise.
            try:
                self._move_into_place(content.temporary_file_path(), path)
            except OSError:
                pass
            else:
                return self._name_of(path)
        with tempfile.NamedTemporaryFile(
            dir=folder, prefix=".", suffix=".part", delete=False
        ) as file:
            try:
                for chunk in content.chunks():
                    file.write(chunk)
            except BaseException:
                file.close()
                os.unlink(file.name)
                raise
        self._move_into_place(file.name, path)
        return self._name_of(path)

    def _move_into_place(self, source: str, path: str) -> None:
        if self.file_permissions_mode is not None:
            os.chmod(source, self.file_permissions_mode)
        os.replace(source, path)

    def _name_of(self, path: str) -> str:
        return os.path.relpath(path, self.location).replace("\\", "/")
