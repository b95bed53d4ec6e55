"""Behaviour of the archive-style variant generator, on small synthetic images (no Django)."""

import io
import random

import numpy as np
import pytest
from PIL import Image, ImageOps

from catalogue import variants
from catalogue.variants import KINDS, Variant, describe, make_variant, make_variants

PIXEL_IDENTICAL = ('metadata-stripped', 'pixel-identical-png', 'format-tiff')
TRANSPOSES = {
    'rotated-90': Image.Transpose.ROTATE_270,
    'rotated-180': Image.Transpose.ROTATE_180,
    'rotated-270': Image.Transpose.ROTATE_90,
    'mirrored': Image.Transpose.FLIP_LEFT_RIGHT,
}
FORMAT_OF_EXT = {'.jpg': 'JPEG', '.png': 'PNG', '.tif': 'TIFF', '.webp': 'WEBP'}


# The shared conftest's autouse fixtures need Django settings and Celery; this module is plain Python and
# runs with `-p no:django`, so it shadows them with no-ops.
@pytest.fixture(autouse=True)
def _storage():
    return None


@pytest.fixture(autouse=True)
def _eager_celery():
    return None


def photo(size=(96, 64), seed=1) -> Image.Image:
    """Smooth gradients plus a few blocks: structured enough that transposes and crops are distinguishable."""
    w, h = size
    y, x = np.mgrid[0:h, 0:w]
    arr = np.stack([x * 255 // (w - 1), y * 255 // (h - 1), (x + y) * 255 // (w + h - 2)], axis=-1)
    rng = np.random.default_rng(seed)
    for _ in range(5):
        x0, y0 = rng.integers(0, w - 10), rng.integers(0, h - 10)
        arr[y0:y0 + 10, x0:x0 + 14] = rng.integers(0, 256, 3)
    return Image.fromarray(arr.astype(np.uint8), 'RGB')


def save(im: Image.Image, path, fmt: str, **kwargs):
    im.save(path, format=fmt, **kwargs)
    return path


def decode(v: Variant) -> Image.Image:
    im = Image.open(io.BytesIO(v.data))
    im.load()
    return im


def pixels(im: Image.Image) -> np.ndarray:
    return np.asarray(im)


@pytest.fixture
def sources(tmp_path):
    base = photo()
    rgba = base.convert('RGBA')
    rgba.putalpha(Image.linear_gradient('L').resize(base.size))
    return {
        'jpeg': save(base, tmp_path / 'IMG_0001.jpg', 'JPEG', quality=90, exif=exif_bytes(1, camera=True),
                     icc_profile=b'not really an ICC profile', comment=b'scanned 1998'),
        'png': save(base, tmp_path / 'scan.png', 'PNG'),
        'grey': save(base.convert('L'), tmp_path / 'grey.png', 'PNG'),
        'rgba': save(rgba, tmp_path / 'alpha.png', 'PNG'),
        'palette': save(base.quantize(16), tmp_path / 'palette.png', 'PNG'),
    }


def exif_bytes(orientation: int, camera: bool = False) -> bytes:
    exif = Image.Exif()
    exif[0x0112] = orientation
    if camera:
        exif[0x010F] = 'Kodak'
    return exif.tobytes()


def upright(path) -> Image.Image:
    return ImageOps.exif_transpose(Image.open(path))


@pytest.mark.parametrize('name', ['jpeg', 'png', 'grey', 'rgba', 'palette'])
def test_every_kind_decodes_with_matching_name(sources, name):
    path = sources[name]
    made = make_variants(path, seed=3)
    assert [v.kind for v in made] == list(KINDS)
    assert len({v.filename for v in made}) == len(KINDS)
    for v in made:
        im = decode(v)
        assert im.width > 0 and im.height > 0
        assert v.filename.startswith(f'{path.stem}__{v.kind}')
        ext = v.filename[v.filename.rindex('.'):]
        assert FORMAT_OF_EXT[ext] == im.format, v.filename
        assert describe(v.kind)


def test_identical_is_byte_copy(sources):
    for path in sources.values():
        v = make_variant(path, 'identical')
        assert v.data == path.read_bytes()
        assert v.filename == f'{path.stem}__identical{path.suffix}'


@pytest.mark.parametrize('name', ['jpeg', 'png', 'grey', 'rgba', 'palette'])
@pytest.mark.parametrize('kind', PIXEL_IDENTICAL)
def test_pixel_identical_kinds_decode_to_equal_pixels(sources, name, kind):
    original = upright(sources[name])
    out = decode(make_variant(sources[name], kind))
    assert out.size == original.size
    if original.mode == 'P':
        # A palette may be re-ordered by the encoder; what must not change is the colour of each pixel.
        original, out = original.convert('RGBA'), out.convert('RGBA')
    assert out.mode == original.mode
    assert np.array_equal(pixels(out), pixels(original))


def test_metadata_stripped_jpeg_is_lossless_and_bare(sources):
    path = sources['jpeg']
    assert {'exif', 'icc_profile', 'comment'} <= set(Image.open(path).info)
    v = make_variant(path, 'metadata-stripped')
    out = decode(v)
    assert out.format == 'JPEG' and v.filename.endswith('.jpg')
    assert not {'exif', 'icc_profile', 'comment'} & set(out.info)
    assert np.array_equal(pixels(out), pixels(Image.open(path)))
    assert len(v.data) < path.stat().st_size


@pytest.mark.parametrize('options', [{'progressive': True}, {'restart_marker_blocks': 1}, {'subsampling': 0}])
def test_metadata_stripped_handles_jpeg_structures(tmp_path, options):
    path = save(photo(seed=5), tmp_path / 'p.jpg', 'JPEG', quality=80, exif=exif_bytes(1, camera=True),
                **options)
    # Trailing bytes after EOI (vendor trailers, MPF images) are not part of the picture.
    path.write_bytes(path.read_bytes() + b'TRAILER')
    out = decode(make_variant(path, 'metadata-stripped'))
    assert 'exif' not in out.info
    assert np.array_equal(pixels(out), pixels(Image.open(path)))


def test_metadata_stripped_keeps_a_sideways_jpeg_upright(tmp_path):
    stored = photo().transpose(Image.Transpose.ROTATE_90)
    path = save(stored, tmp_path / 'sideways.jpg', 'JPEG', quality=90, exif=exif_bytes(6, camera=True))
    out = decode(make_variant(path, 'metadata-stripped'))
    assert dict(out.getexif()) == {0x0112: 6}
    assert np.array_equal(pixels(ImageOps.exif_transpose(out)), pixels(upright(path)))
    png = decode(make_variant(path, 'pixel-identical-png'))
    assert np.array_equal(pixels(png), pixels(upright(path)))


@pytest.mark.parametrize('name', ['png', 'rgba', 'grey'])
@pytest.mark.parametrize('kind', sorted(TRANSPOSES))
def test_rotation_kinds_equal_transposed_source(sources, name, kind):
    original = Image.open(sources[name])
    v = make_variant(sources[name], kind)
    assert v.filename.endswith('.png')
    assert np.array_equal(pixels(decode(v)), pixels(original.transpose(TRANSPOSES[kind])))


def test_rotation_of_jpeg_stays_close(sources):
    original = Image.open(sources['jpeg']).convert('RGB')
    out = decode(make_variant(sources['jpeg'], 'rotated-90'))
    expected = pixels(original.transpose(Image.Transpose.ROTATE_270)).astype(int)
    assert out.format == 'JPEG'
    assert np.abs(pixels(out).astype(int) - expected).mean() < 3


@pytest.mark.parametrize('orientation', [3, 6, 8])
def test_exif_rotated_displays_upright(sources, orientation):
    original = Image.open(sources['png'])
    out = decode(make_variant(sources['png'], 'exif-rotated', orientation=orientation))
    assert out.getexif()[0x0112] == orientation
    if orientation != 3:
        assert out.size == original.size[::-1]
    assert np.array_equal(pixels(ImageOps.exif_transpose(out)), pixels(original))

    jpeg = decode(make_variant(sources['jpeg'], 'exif-rotated', orientation=orientation))
    shown = pixels(ImageOps.exif_transpose(jpeg)).astype(int)
    assert np.abs(shown - pixels(Image.open(sources['jpeg'])).astype(int)).mean() < 3


def test_exif_rotated_chooses_a_real_rotation(sources):
    seen = {make_variant(sources['png'], 'exif-rotated', rng=random.Random(s)).params['orientation']
            for s in range(20)}
    assert seen == {3, 6, 8}


def test_crop_box_area_and_size(sources):
    original = Image.open(sources['png'])
    lefts = set()
    for s in range(25):
        v = make_variant(sources['png'], 'cropped', rng=random.Random(s))
        left, top, right, bottom = box = v.params['box']
        assert 0 <= left < right <= 1 and 0 <= top < bottom <= 1
        assert 0.70 <= (right - left) * (bottom - top) <= 0.90
        assert v.params['area'] == pytest.approx((right - left) * (bottom - top), abs=1e-3)
        pixel_box = variants.crop_pixel_box(box, original.size)
        out = decode(v)
        assert out.size == (pixel_box[2] - pixel_box[0], pixel_box[3] - pixel_box[1])
        assert abs(out.width * out.height / (original.width * original.height) - v.params['area']) < 0.03
        assert np.array_equal(pixels(out), pixels(original.crop(pixel_box)))
        lefts.add(round(left, 2))
    assert len(lefts) > 5, 'crop position should vary'


def test_crop_with_requested_area(sources):
    v = make_variant(sources['png'], 'cropped', area=0.75)
    assert v.params['area'] == pytest.approx(0.75, abs=2e-3)


@pytest.mark.parametrize('colour, value', [('white', 255), ('black', 0), ('grey', 128)])
def test_bordered_has_uniform_borders_of_stated_size(sources, colour, value):
    original = pixels(Image.open(sources['png']))
    sides = (0.03, 0.1, 0.07, 0.05)
    v = make_variant(sources['png'], 'bordered', colour=colour, sides=sides)
    out = pixels(decode(v))
    left, top, right, bottom = variants.border_pixels(sides, (original.shape[1], original.shape[0]))
    assert (left, top, right, bottom) == (3, 6, 7, 3)
    assert out.shape == (original.shape[0] + top + bottom, original.shape[1] + left + right, 3)
    frame = np.ones(out.shape[:2], bool)
    frame[top:out.shape[0] - bottom, left:out.shape[1] - right] = False
    assert (out[frame] == value).all()
    assert np.array_equal(out[top:top + original.shape[0], left:left + original.shape[1]], original)


def test_bordered_random_sides_in_range(sources):
    for s in range(15):
        params = make_variant(sources['png'], 'bordered', rng=random.Random(s)).params
        assert params['colour'] in ('white', 'black', 'grey')
        assert all(0.03 <= side <= 0.10 for side in params['sides'])


def test_random_parameters_stay_in_documented_ranges(sources):
    path = sources['png']
    w, h = Image.open(path).size
    for s in range(12):
        rng = random.Random
        v = make_variant(path, 'resized', rng=rng(s))
        scale = v.params['scale']
        assert 0.35 <= scale <= 0.8 or 1.25 <= scale <= 2.0
        assert 85 <= v.params['quality'] <= 95
        assert decode(v).size == (round(w * scale), round(h * scale))
        assert v.filename == f'scan__resized-{scale:.2f}.jpg'

        assert 40 <= make_variant(path, 'recompressed', rng=rng(s)).params['quality'] <= 75

        c = make_variant(path, 'colour-changed', rng=rng(s)).params
        assert c['gamma'] != 1.0 or c['saturation'] != 1.0 or c['cast'] is not None
        assert 0.8 <= c['gamma'] <= 1.25 and 0.8 <= c['saturation'] <= 1.2
        assert (c['cast'] is None) == (c['cast_strength'] == 0.0)

        angle = make_variant(path, 'skewed', rng=rng(s)).params['angle']
        assert 1.0 <= abs(angle) <= 2.0

        strip = make_variant(path, 'caption-strip', rng=rng(s))
        assert 0.08 <= strip.params['height'] <= 0.12
        assert decode(strip).size == (w, h + round(h * strip.params['height']))

        mark = make_variant(path, 'watermark', rng=rng(s))
        assert 0.25 <= mark.params['opacity'] <= 0.5
        marked = pixels(decode(mark))
        assert marked.shape == pixels(Image.open(path)).shape
        assert not np.array_equal(marked, pixels(Image.open(path)))


def test_greyscale_and_format_changed(sources):
    grey = decode(make_variant(sources['jpeg'], 'greyscale'))
    assert grey.mode == 'L' and grey.format == 'JPEG'
    changed = make_variant(sources['jpeg'], 'format-changed')
    assert decode(changed).format == changed.params['format']


def test_caption_strip_has_text_on_solid_background(sources):
    original = Image.open(sources['png'])
    v = make_variant(sources['png'], 'caption-strip', background='black', height=0.12, text='Ref. 1/2')
    strip = pixels(decode(v))[original.height:]
    assert (strip[:, -5:] == 0).all()
    assert strip.max() > 128, 'caption text should be drawn'


def test_deterministic_per_seed(sources):
    for path in (sources['jpeg'], sources['rgba']):
        first = [v.data for v in make_variants(path, seed=7)]
        assert first == [v.data for v in make_variants(path, seed=7)]
        other = [v.data for v in make_variants(path, seed=8)]
        assert sum(a != b for a, b in zip(first, other, strict=True)) >= 5


def test_kind_choices_do_not_depend_on_other_kinds(sources):
    alone = make_variants(sources['png'], kinds=['cropped'], seed=2)
    together = make_variants(sources['png'], seed=2)
    assert alone[0] == next(v for v in together if v.kind == 'cropped')


def test_params_reproduce_the_variant(sources):
    for v in make_variants(sources['jpeg'], seed=4):
        assert make_variant(sources['jpeg'], v.kind, **v.params).data == v.data, v.kind


def test_in_memory_image_source():
    im = photo()
    v = make_variant(im, 'rotated-180')
    assert v.filename == 'image__rotated-180.png'
    assert np.array_equal(pixels(decode(v)), pixels(im.transpose(Image.Transpose.ROTATE_180)))
    with pytest.raises(ValueError):
        make_variant(im, 'identical')


def test_bad_requests_are_rejected(sources):
    with pytest.raises(ValueError):
        make_variant(sources['png'], 'sepia')
    with pytest.raises(ValueError):
        describe('sepia')
    with pytest.raises(TypeError):
        make_variant(sources['png'], 'resized', scael=0.5)
    with pytest.raises(ValueError):
        make_variant(sources['png'], 'rotated-90', angle=180)


def test_describe_is_one_line_per_kind():
    for kind in KINDS:
        text = describe(kind)
        assert text and '\n' not in text


def test_unusual_modes_are_converted_sensibly(tmp_path):
    grey16 = Image.fromarray(np.arange(48 * 64, dtype=np.uint16).reshape(48, 64) * 20)
    cmyk = photo().convert('CMYK')
    for path in (save(grey16, tmp_path / 'deep.png', 'PNG'), save(cmyk, tmp_path / 'press.jpg', 'JPEG')):
        made = {v.kind: decode(v) for v in make_variants(path)}
        assert made['resized'].mode in ('L', 'RGB')
        assert made['watermark'].size == Image.open(path).size
    # 16 bits survive the lossless kinds; they are only reduced where the codec is 8-bit.
    assert np.array_equal(pixels(decode(make_variant(tmp_path / 'deep.png', 'format-tiff'))), pixels(grey16))
