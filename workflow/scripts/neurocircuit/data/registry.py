"""Which files each classification data set has, where they come from, and where we look for them.

Torch-free on purpose: the workflow reads this at parse time to decide, per data set, whether the
files are already on disk (``data_dir`` or a system folder) or must be downloaded into
``resources_dir`` by a download rule.

Checksums:
- ``md5`` is the MD5 of the file as published on the official site (what a download must match);
- ``content_md5`` is the MD5 of the uncompressed content, which stays the same when a copy was
  recompressed (Debian's Fashion-MNIST package, the MNIST copy rebuilt from ``mnist.pkl.gz``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

COMPRESSED_SUFFIXES = (".gz", ".zip")


@dataclass(frozen=True)
class DataFile:
    """One published file of a data set.

    ``role`` names it inside the workflow (``train_images``), ``name`` is the file name as
    published (``train-images-idx3-ubyte.gz``); ``urls`` are tried in order.
    """

    role: str
    name: str
    urls: tuple[str, ...]
    md5: str | None = None
    content_md5: str | None = None

    @property
    def stem(self) -> str:
        """The file name without its compression suffix (``train-images-idx3-ubyte``)."""
        for suffix in COMPRESSED_SUFFIXES:
            if self.name.endswith(suffix):
                return self.name[: -len(suffix)]
        return self.name


@dataclass(frozen=True)
class DatasetSpec:
    """A classification data set: its files, shape, and provenance."""

    name: str
    kind: str  # "idx", "shd" or "embedded"
    n_inputs: int
    n_classes: int
    files: tuple[DataFile, ...] = ()
    folder_names: tuple[str, ...] = ()
    system_dirs: tuple[str, ...] = ()
    checksum_list_url: str | None = None
    homepage: str = ""
    citation: str = ""
    license: str = ""

    def file(self, role: str) -> DataFile:
        for data_file in self.files:
            if data_file.role == role:
                return data_file
        raise KeyError(f"data set '{self.name}' has no file with role '{role}'")

    def by_name(self, name: str) -> DataFile:
        for data_file in self.files:
            if data_file.name == name:
                return data_file
        known = ", ".join(f.name for f in self.files)
        raise KeyError(f"data set '{self.name}' has no file named '{name}' (known: {known})")


def _idx_files(base_urls: tuple[str, ...], md5s: dict, content_md5s: dict) -> tuple:
    roles = {
        "train_images": "train-images-idx3-ubyte.gz",
        "train_labels": "train-labels-idx1-ubyte.gz",
        "test_images": "t10k-images-idx3-ubyte.gz",
        "test_labels": "t10k-labels-idx1-ubyte.gz",
    }
    return tuple(
        DataFile(
            role=role,
            name=name,
            urls=tuple(base + name for base in base_urls),
            md5=md5s[role],
            content_md5=content_md5s[role],
        )
        for role, name in roles.items()
    )


MNIST = DatasetSpec(
    name="mnist",
    kind="idx",
    n_inputs=784,
    n_classes=10,
    files=_idx_files(
        (
            # torchvision's mirror of the original files (the original site often refuses
            # scripted downloads), Google's CVDF mirror, then the original.
            "https://ossci-datasets.s3.amazonaws.com/mnist/",
            "https://storage.googleapis.com/cvdf-datasets/mnist/",
            "http://yann.lecun.com/exdb/mnist/",
        ),
        md5s={
            "train_images": "f68b3c2dcbeaaa9fbdd348bbdeb94873",
            "train_labels": "d53e105ee54ea40749a09fcbcd1e9432",
            "test_images": "9fb629c4189551a2d022fa330f9573f3",
            "test_labels": "ec29112dd5afa0611ce80d1b7f02629c",
        },
        content_md5s={
            "train_images": "6bbc9ace898e44ae57da46a324031adb",
            "train_labels": "a25bea736e30d166cdddb491f175f624",
            "test_images": "2646ac647ad5339dbf082846283269ea",
            "test_labels": "27ae3e4e09519cfbb04c329615203637",
        },
    ),
    folder_names=("mnist", "MNIST", "MNIST/raw"),
    homepage="http://yann.lecun.com/exdb/mnist/",
    citation=(
        "LeCun, Y., Bottou, L., Bengio, Y. & Haffner, P. (1998). Gradient-based learning applied "
        "to document recognition. Proc. IEEE 86(11), 2278-2324."
    ),
    license="CC BY-SA 3.0",
)

FASHION_MNIST = DatasetSpec(
    name="fashion_mnist",
    kind="idx",
    n_inputs=784,
    n_classes=10,
    files=_idx_files(
        (
            "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
            "https://github.com/zalandoresearch/fashion-mnist/raw/master/data/fashion/",
        ),
        md5s={
            "train_images": "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
            "train_labels": "25c81989df183df01b3e8a0aad5dffbe",
            "test_images": "bef4ecab320f06d8554ea6380940ec79",
            "test_labels": "bb300cfdad3c16e7a12a480ee83cd310",
        },
        content_md5s={
            "train_images": "f4a8712d7a061bf5bd6d2ca38dc4d50a",
            "train_labels": "9018921c3c673c538a1fc5bad174d6f9",
            "test_images": "8181f5470baa50b63fa0f6fddb340f0a",
            "test_labels": "15d484375f8d13e6eb1aabb0c3f46965",
        },
    ),
    folder_names=("fashion-mnist", "fashion_mnist", "FashionMNIST", "FashionMNIST/raw"),
    # Debian's package dataset-fashion-mnist installs the four files here.
    system_dirs=("/usr/share/datasets/fashion-mnist",),
    homepage="https://github.com/zalandoresearch/fashion-mnist",
    citation=(
        "Xiao, H., Rasul, K. & Vollgraf, R. (2017). Fashion-MNIST: a novel image dataset for "
        "benchmarking machine learning algorithms. arXiv:1708.07747."
    ),
    license="MIT",
)

SHD = DatasetSpec(
    name="shd",
    kind="shd",
    n_inputs=700,
    n_classes=20,
    files=(
        DataFile(
            role="train",
            name="shd_train.h5.gz",
            urls=(
                "https://zenkelab.org/datasets/shd_train.h5.gz",
                "https://compneuro.net/datasets/shd_train.h5.gz",
            ),
            md5="d47c9825dee33347913e8ce0f2be08b0",
        ),
        DataFile(
            role="test",
            name="shd_test.h5.gz",
            urls=(
                "https://zenkelab.org/datasets/shd_test.h5.gz",
                "https://compneuro.net/datasets/shd_test.h5.gz",
            ),
            md5="3062a80ec0c5719404d5b02e166543b1",
        ),
    ),
    folder_names=("shd", "SHD"),
    # The site publishes its own list of MD5 sums; when it can be fetched it takes precedence
    # over the pinned values above (which could not be checked against a download here).
    checksum_list_url="https://zenkelab.org/datasets/md5sums.txt",
    homepage="https://zenkelab.org/resources/spiking-heidelberg-datasets-shd/",
    citation=(
        "Cramer, B., Stradmann, Y., Schemmel, J. & Zenke, F. (2022). The Heidelberg spiking data "
        "sets for the systematic evaluation of spiking neural networks. IEEE Trans. Neural Netw. "
        "Learn. Syst. 33(7), 2744-2757. doi:10.1109/TNNLS.2020.3044364"
    ),
    license="CC BY 4.0",
)

DIGITS = DatasetSpec(
    name="digits",
    kind="embedded",
    n_inputs=64,
    n_classes=10,
    homepage="https://scikit-learn.org/stable/datasets/toy_dataset.html#digits-dataset",
    citation=(
        "Alpaydin, E. & Kaynak, C. (1998). Optical Recognition of Handwritten Digits. UCI Machine "
        "Learning Repository. doi:10.24432/C50P49 (shipped inside scikit-learn)."
    ),
    license="CC BY 4.0",
)

DATASETS: dict[str, DatasetSpec] = {spec.name: spec for spec in (DIGITS, MNIST, FASHION_MNIST, SHD)}


def get_dataset_spec(name: str) -> DatasetSpec:
    """The spec of data set ``name``; a clear error listing the known names otherwise."""
    try:
        return DATASETS[name]
    except KeyError:
        known = ", ".join(sorted(DATASETS))
        raise ValueError(f"unknown classification data set '{name}' (known: {known})") from None


def _candidates(data_file: DataFile) -> tuple[str, ...]:
    """File names under which a copy of ``data_file`` is accepted: as published or uncompressed."""
    names = [data_file.name]
    if data_file.stem != data_file.name:
        names.append(data_file.stem)
    return tuple(names)


def find_in_folder(spec: DatasetSpec, folder: str | Path) -> dict[str, Path] | None:
    """Paths of all of ``spec``'s files in ``folder`` (gzipped or not); None if one is missing."""
    folder = Path(folder)
    found = {}
    for data_file in spec.files:
        for name in _candidates(data_file):
            path = folder / name
            if path.is_file():
                found[data_file.role] = path
                break
        else:
            return None
    return found


def search_folders(spec: DatasetSpec, data_dir: str | Path | None) -> list[Path]:
    """Folders searched, in order, for an existing copy of ``spec``'s files.

    ``data_dir/<folder name>`` for each accepted folder name (``mnist``, ``fashion-mnist``, ...),
    ``data_dir`` itself, then the data set's system folders (Debian's
    ``/usr/share/datasets/fashion-mnist``).
    """
    folders: list[Path] = []
    if data_dir:
        base = Path(data_dir)
        folders += [base / name for name in spec.folder_names]
        folders.append(base)
    folders += [Path(d) for d in spec.system_dirs]
    return folders


def locate_files(
    spec: DatasetSpec,
    data_dir: str | Path | None,
    *,
    system_dirs: bool = True,
) -> dict[str, Path] | None:
    """Existing files of ``spec`` (role -> path) from the first folder that holds all of them.

    None when no searched folder holds a complete set: the workflow then downloads them.
    ``system_dirs=False`` skips system folders (tests use it to stay independent of the host).
    """
    if spec.kind == "embedded":
        return {}
    for folder in search_folders(spec, data_dir):
        if not system_dirs and str(folder) in spec.system_dirs:
            continue
        found = find_in_folder(spec, folder)
        if found is not None:
            return found
    return None


def download_paths(spec: DatasetSpec, resources_dir: str | Path) -> dict[str, Path]:
    """Where the download rule puts ``spec``'s files: ``resources_dir/<name>/<published name>``."""
    return {f.role: Path(resources_dir) / spec.name / f.name for f in spec.files}


def describe_missing(spec: DatasetSpec, data_dir: str | Path | None, resources_dir) -> str:
    """One message saying which files to put where, for a data set that cannot be found."""
    names = ", ".join(f.name for f in spec.files)
    places = [str(p) for p in search_folders(spec, data_dir)]
    places.append(str(Path(resources_dir) / spec.name))
    return (
        f"{spec.name}: files missing and they cannot be downloaded here; put {names} (gzipped or "
        f"not) into one of: {'; '.join(places)} (set data_dir in the config to the folder that "
        f"holds a '{spec.folder_names[0]}/' subfolder), or download them from "
        f"{spec.files[0].urls[0].rsplit('/', 1)[0]}/"
    )
