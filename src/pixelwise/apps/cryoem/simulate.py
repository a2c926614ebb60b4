"""A cryo-EM micrograph simulator: movies, odd/even sums and the clean target, by seed.

Image formation, in order:

1. **Specimen.** A few protein species per data set, each an atom-like model of thousands of
   Gaussian pseudo-atoms laid along a confined, persistent chain (3.8 Å steps, like a
   backbone, with side-chain atoms around it), so projections carry secondary-structure-scale
   detail, not smooth blobs. Particles sit at random, non-overlapping positions with uniformly
   random 3-D orientations; each atom carries the potential of protein in excess of the ice
   it displaces (``protein_excess_v`` volts on average inside the particle).
2. **Ice.** Amorphous-ice texture: a Gaussian random field of projected potential whose
   spectrum has the diffuse water ring near 1/3.7 Å⁻¹; and a slowly varying ice thickness,
   which shifts the phase (mean inner potential of ice) and attenuates the beam
   (``exp(-t / inelastic_mfp_a)``: inelastically scattered electrons are lost, as behind an
   energy filter).
3. **Support and contamination.** Sometimes the edge of a holey-carbon hole crosses the
   field (thicker, denser film outside: phase shift, attenuation and a granular texture,
   with a sharp edge and no particles on it), and crystalline-ice contaminants sit on top
   (thick, sharp-edged, dark). They give micrographs the sharp, high-contrast structure
   that a uniform blur smears.
4. **Optics.** Projected potential -> phase (interaction constant at the voltage) -> weak-phase
   image ``1 + 2 * CTF * phase`` with the CTF of :mod:`pixelwise.apps.cryoem.ctf` (defocus with
   astigmatism, Cs, amplitude contrast, B-factor); protein comes out dark.
5. **Detection.** Poisson shot noise per frame at ``dose / frames`` e⁻/Å² per frame (an ideal
   counting detector, frames already motion-corrected). The noisy micrograph is the sum of
   all frames, the odd/even halves the sums of frames 1, 3, 5, ... and 2, 4, 6, ... and the
   clean target the expected count of the full sum, in the same units (e⁻ per pixel).

Everything is drawn from ``numpy.random.default_rng`` seeded by ``(seed, index)``, so a micrograph
is a function of the config, the data-set seed and its index alone.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator
from scipy.spatial.transform import Rotation

from pixelwise.apps.cryoem.ctf import CTFParameters, ctf_2d, interaction_constant
from pixelwise.errors import ConfigError
from pixelwise.io.atomic import atomic_path, write_text_atomic
from pixelwise.io.mrc import write_mrc

#: Pixels of padding around the simulated field (cropped away).
PAD = 48
#: Sub-folders of a simulated data set, one file per micrograph in each, named alike.
KINDS = ("noisy", "clean", "odd", "even", "movies")


class SimulationConfig(BaseModel):
    """Every number of a simulated data set."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    shape: tuple[int, int] = Field((512, 512), description="micrograph (Y, X) in pixels")
    pixel_size: float = Field(1.0, gt=0.2, le=20, description="Å per pixel")
    dose: float = Field(40.0, gt=0, le=1000, description="total dose, e⁻/Å²")
    frames: int = Field(20, ge=2, le=200)
    voltage_kv: float = Field(300.0, gt=0, le=3000)
    cs_mm: float = Field(2.7, ge=0, le=10)
    amplitude_contrast: float = Field(0.07, ge=0, lt=1)
    defocus_um: tuple[float, float] = Field((0.8, 2.5), description="range of mean underfocus")
    astigmatism_um: float = Field(0.1, ge=0, le=5, description="largest |df_u - df_v|")
    bfactor: tuple[float, float] = Field((30.0, 90.0), description="range of B-factors, Å²")
    species: int = Field(3, ge=1, le=50, description="distinct proteins in the data set")
    structure_seed: int = Field(0, ge=0, description="seed of the protein models")
    residues: tuple[int, int] = Field(
        (4000, 12000), description="range of chain lengths (440 kDa to 1.3 MDa at 110 Da each)"
    )
    atoms_per_residue: int = Field(4, ge=1, le=12)
    atom_sigma: float = Field(0.9, gt=0, le=5, description="pseudo-atom Gaussian sigma, Å")
    protein_excess_v: float = Field(
        2.5, gt=0, le=20, description="mean potential of protein over ice, volts"
    )
    particle_fraction: float = Field(
        0.25, ge=0, le=0.6, description="share of the area covered by particles"
    )
    ice_ring_phase: float = Field(
        0.012, ge=0, le=1, description="std of the water-ring texture's phase, radians"
    )
    ice_thickness_a: float = Field(400.0, gt=0, le=5000, description="mean ice thickness, Å")
    thickness_std_a: float = Field(
        30.0, ge=0, le=2000, description="std of the slow ice-thickness variation, Å"
    )
    ice_potential_v: float = Field(4.5, ge=0, le=20, description="mean inner potential of ice")
    inelastic_mfp_a: float = Field(
        3500.0, gt=0, le=1e5, description="inelastic mean free path (zero-loss attenuation), Å"
    )
    carbon_probability: float = Field(
        0.3, ge=0, le=1, description="chance that a holey-carbon edge crosses the micrograph"
    )
    carbon_thickness_a: tuple[float, float] = Field((80.0, 200.0), description="carbon film, Å")
    carbon_potential_v: float = Field(10.0, ge=0, le=30, description="mean inner potential")
    carbon_mfp_a: float = Field(1800.0, gt=0, le=1e5, description="carbon inelastic mfp, Å")
    contaminants: float = Field(
        0.7, ge=0, le=20, description="mean number of ice-crystal contaminants per micrograph"
    )

    @model_validator(mode="after")
    def _ranges(self) -> SimulationConfig:
        for name in ("defocus_um", "bfactor", "residues"):
            low, high = getattr(self, name)
            if not 0 <= low <= high:
                raise ValueError(f"{name} must be a range 0 <= low <= high, got {(low, high)}")
        if min(self.shape) < 32 or max(self.shape) > 16384:
            raise ValueError(f"shape must lie within 32..16384 pixels, got {self.shape}")
        return self


@dataclass(frozen=True)
class Micrograph:
    """One simulated exposure (float32 / uint16 arrays of the config's shape)."""

    movie: np.ndarray  # (frames, Y, X) uint16 counts
    clean: np.ndarray  # (Y, X) float32 expected counts of the full sum
    ctf: CTFParameters

    @property
    def noisy(self) -> np.ndarray:
        """The sum of all frames, float32."""
        return self.movie.sum(axis=0, dtype=np.float32)

    @property
    def odd(self) -> np.ndarray:
        """The sum of frames 1, 3, 5, ... (0-based 0, 2, 4, ...), float32."""
        return self.movie[0::2].sum(axis=0, dtype=np.float32)

    @property
    def even(self) -> np.ndarray:
        """The sum of frames 2, 4, 6, ..., float32."""
        return self.movie[1::2].sum(axis=0, dtype=np.float32)


def _chain(rng: np.random.Generator, residues: int, per_residue: int) -> np.ndarray:
    """Atom coordinates (n, 3) in Å of a compact, persistent chain centred on the origin."""
    radius = 2.97 * residues ** (1.0 / 3.0)  # a sphere of 110 Å³ per residue (1.35 g/cm³)
    axes = radius * rng.uniform(0.7, 1.3, size=3)
    step = 3.8
    positions = np.empty((residues, 3))
    position = np.zeros(3)
    direction = rng.normal(size=3)
    direction /= np.linalg.norm(direction)
    for index in range(residues):
        direction = direction + 0.8 * rng.normal(size=3)
        outside = np.sum((position / axes) ** 2)
        if outside > 1.0:  # steer back inside the ellipsoid
            direction -= 2.0 * outside * position / np.linalg.norm(position)
        direction /= np.linalg.norm(direction)
        position = position + step * direction
        positions[index] = position
    side = rng.normal(scale=1.6, size=(residues, per_residue - 1, 3))
    atoms = np.concatenate([positions[:, None], positions[:, None] + side], axis=1).reshape(-1, 3)
    return atoms - atoms.mean(axis=0)


def protein_models(config: SimulationConfig) -> list[np.ndarray]:
    """The data set's species: atom coordinates (n_i, 3) in Å, from ``structure_seed``."""
    rng = np.random.default_rng([config.structure_seed, 7])
    low, high = config.residues
    return [
        _chain(rng, int(rng.integers(low, high + 1)), config.atoms_per_residue)
        for _ in range(config.species)
    ]


def _place(
    rng: np.random.Generator, config: SimulationConfig, models: list[np.ndarray]
) -> list[tuple[int, np.ndarray]]:
    """Random non-overlapping particles: (species, centre in Å (x, y))."""
    height, width = (size * config.pixel_size for size in config.shape)
    radii = [float(np.percentile(np.linalg.norm(m, axis=1), 95)) for m in models]
    mean_area = float(np.mean([math.pi * r**2 for r in radii]))
    wanted = round(config.particle_fraction * height * width / mean_area)
    placed: list[tuple[int, np.ndarray, float]] = []
    for _ in range(20 * wanted):
        if len(placed) >= wanted:
            break
        species = int(rng.integers(len(models)))
        centre = rng.uniform([0.0, 0.0], [width, height])
        if all(np.hypot(*(centre - c)) > 0.9 * (radii[species] + r) for _, c, r in placed):
            placed.append((species, centre, radii[species]))
    return [(species, centre) for species, centre, _ in placed]


def _splat(shape: tuple[int, int], x: np.ndarray, y: np.ndarray, weight: float) -> np.ndarray:
    """Bilinear deposit of equal point weights at pixel coordinates (x, y) onto a grid."""
    height, width = shape
    x0, y0 = np.floor(x).astype(np.int64), np.floor(y).astype(np.int64)
    fx, fy = x - x0, y - y0
    grid = np.zeros(height * width)
    for dx, dy, w in (
        (0, 0, (1 - fx) * (1 - fy)),
        (1, 0, fx * (1 - fy)),
        (0, 1, (1 - fx) * fy),
        (1, 1, fx * fy),
    ):
        xi, yi = x0 + dx, y0 + dy
        inside = (xi >= 0) & (xi < width) & (yi >= 0) & (yi < height)
        grid += np.bincount(
            yi[inside] * width + xi[inside], weights=w[inside] * weight, minlength=grid.size
        )
    return grid.reshape(shape)


def _random_field(rng: np.random.Generator, spectrum: np.ndarray, std: float) -> np.ndarray:
    """A zero-mean Gaussian random field with power ``spectrum`` and ``std``, in Fourier space."""
    shaped = np.fft.fft2(rng.standard_normal(spectrum.shape)) * np.sqrt(spectrum)
    shaped[0, 0] = 0.0
    spread = np.fft.ifft2(shaped).real.std()
    return shaped * (std / spread) if spread > 0 else shaped


def _ice(rng: np.random.Generator, config: SimulationConfig) -> tuple[np.ndarray, np.ndarray]:
    """(ice phase in Fourier space, radians; ice thickness in Å, real space)."""
    ky = np.fft.fftfreq(config.shape[0], d=config.pixel_size)[:, None]
    kx = np.fft.fftfreq(config.shape[1], d=config.pixel_size)[None, :]
    k = np.hypot(kx, ky)
    ring = _random_field(
        rng, _band(config.shape, config.pixel_size, 1 / 3.7, 0.04), config.ice_ring_phase
    )
    slow = _random_field(rng, 1.0 / (1.0 + (k / 0.004) ** 2) ** 1.5, config.thickness_std_a)
    phase = ring + slow * config.ice_potential_v * interaction_constant(config.voltage_kv)
    thickness = np.clip(config.ice_thickness_a + np.fft.ifft2(slow).real, 0.0, None)
    return phase, thickness


def _support(
    rng: np.random.Generator, config: SimulationConfig
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(projected potential in V Å, thickness-weighted attenuation exponent, hole mask).

    The carbon film lies outside a large circular hole whose edge crosses the field; each
    contaminant is a thick blob with a wavy outline. Edges are anti-aliased over one pixel.
    """
    height, width = config.shape
    pixel = config.pixel_size
    y, x = np.indices(config.shape, dtype=np.float64)
    potential = np.zeros(config.shape)
    attenuation = np.zeros(config.shape)
    hole = np.ones(config.shape)
    carbon = rng.random() < config.carbon_probability
    radius = rng.uniform(2.0, 6.0) * max(height, width)  # pixels: a gently curved edge
    angle = rng.uniform(0, 2 * np.pi)
    offset = rng.uniform(0.15, 0.85) * np.array([width, height])
    centre = offset - radius * np.array([np.cos(angle), np.sin(angle)])
    thickness = rng.uniform(*config.carbon_thickness_a)
    granular = np.fft.ifft2(
        _random_field(rng, _band(config.shape, pixel, 1 / 12.0, 1 / 40.0), 0.05)
    ).real
    if carbon:
        distance = np.hypot(x - centre[0], y - centre[1]) - radius
        film = np.clip(distance + 0.5, 0.0, 1.0)  # 1 on the carbon, 0 in the hole
        hole = 1.0 - film
        film_thickness = thickness * film * (1.0 + granular)
        potential += film_thickness * config.carbon_potential_v
        attenuation += film_thickness / config.carbon_mfp_a
    for _ in range(int(rng.poisson(config.contaminants))):
        size = rng.uniform(40.0, 160.0) / pixel
        cx, cy = rng.uniform(0, width), rng.uniform(0, height)
        theta = np.arctan2(y - cy, x - cx)
        wobble = 1.0 + sum(
            rng.uniform(0.0, 0.15) * np.cos(n * theta + rng.uniform(0, 2 * np.pi))
            for n in range(2, 6)
        )
        inside = np.clip(size * wobble - np.hypot(x - cx, y - cy) + 0.5, 0.0, 1.0)
        depth = rng.uniform(300.0, 1200.0) * inside
        potential += depth * config.ice_potential_v
        attenuation += depth / config.inelastic_mfp_a
    return potential, attenuation, hole


def _band(shape: tuple[int, int], pixel: float, centre: float, width: float) -> np.ndarray:
    """A Gaussian ring of spatial frequencies (1/Å) as a power spectrum."""
    ky = np.fft.fftfreq(shape[0], d=pixel)[:, None]
    kx = np.fft.fftfreq(shape[1], d=pixel)[None, :]
    return np.exp(-0.5 * ((np.hypot(kx, ky) - centre) / width) ** 2)


def _ctf_of(rng: np.random.Generator, config: SimulationConfig) -> CTFParameters:
    defocus = rng.uniform(*config.defocus_um) * 1e4
    astigmatism = rng.uniform(0.0, config.astigmatism_um) * 1e4
    return CTFParameters(
        voltage_kv=config.voltage_kv,
        cs_mm=config.cs_mm,
        amplitude_contrast=config.amplitude_contrast,
        defocus_u_a=defocus + astigmatism / 2,
        defocus_v_a=defocus - astigmatism / 2,
        astigmatism_angle_deg=float(rng.uniform(-90.0, 90.0)),
        bfactor=float(rng.uniform(*config.bfactor)),
    )


def simulate_micrograph(
    config: SimulationConfig, seed: int, index: int = 0, models: list[np.ndarray] | None = None
) -> Micrograph:
    """Simulate exposure ``index`` of the data set ``seed``.

    Examples
    --------
    >>> config = SimulationConfig(shape=(64, 64), frames=4, residues=(50, 60), species=1)
    >>> micrograph = simulate_micrograph(config, seed=1)
    >>> micrograph.movie.shape, micrograph.movie.dtype, round(float(micrograph.clean.mean()))
    ((4, 64, 64), dtype('uint16'), 30)
    """
    models = models if models is not None else protein_models(config)
    rng = np.random.default_rng([seed, index, 11])
    # Image formation works on a field padded by PAD pixels per side, cropped at the end, so
    # the FFT's periodic wrap-around never puts CTF fringes along the micrograph's borders.
    shown = config.shape
    config = config.model_copy(update={"shape": (shown[0] + 2 * PAD, shown[1] + 2 * PAD)})
    pixel = config.pixel_size
    support, absorbed, hole = _support(rng, config)
    potential = np.zeros(config.shape)  # projected excess potential, V Å
    for species, centre in _place(rng, config, models):
        column, row = int(centre[0] / pixel), int(centre[1] / pixel)
        if hole[min(row, config.shape[0] - 1), min(column, config.shape[1] - 1)] < 0.5:
            continue  # particles stay in the hole, off the carbon
        atoms = Rotation.random(random_state=rng).apply(models[species])
        radius = float(np.percentile(np.linalg.norm(models[species], axis=1), 95))
        volume = 4.0 / 3.0 * math.pi * radius**3
        weight = config.protein_excess_v * volume / len(atoms) / pixel**2  # V Å per pixel
        x = (atoms[:, 0] + centre[0]) / pixel
        y = (atoms[:, 1] + centre[1]) / pixel
        potential += _splat(config.shape, x, y, weight)
    k_y = np.fft.fftfreq(config.shape[0], d=pixel)[:, None]
    k_x = np.fft.fftfreq(config.shape[1], d=pixel)[None, :]
    atom_blur = np.exp(-2.0 * math.pi**2 * config.atom_sigma**2 * (k_x**2 + k_y**2))
    sigma = interaction_constant(config.voltage_kv)
    phase = (np.fft.fft2(potential) * atom_blur + np.fft.fft2(support)) * sigma
    ice_phase, thickness = _ice(rng, config)
    params = _ctf_of(rng, config)
    contrast = np.fft.ifft2((phase + ice_phase) * ctf_2d(config.shape, pixel, params)).real
    attenuation = np.exp(-thickness / config.inelastic_mfp_a - absorbed)
    intensity = np.clip(1.0 + 2.0 * contrast, 0.0, None) * attenuation
    intensity = intensity[PAD : PAD + shown[0], PAD : PAD + shown[1]]
    per_frame = intensity * (config.dose / config.frames) * pixel**2
    movie = rng.poisson(per_frame, size=(config.frames, *shown))
    if movie.max() > np.iinfo(np.uint16).max:
        raise ConfigError(f"dose {config.dose} e/Å² gives counts beyond uint16 per frame")
    clean = (intensity * config.dose * pixel**2).astype(np.float32)
    return Micrograph(movie.astype(np.uint16), clean, params)


def simulate_dataset(
    output_dir: str | Path,
    config: SimulationConfig,
    count: int,
    *,
    seed: int = 0,
    movies: bool = True,
    prefix: str = "mic",
) -> Path:
    """Write ``count`` micrographs into ``output_dir`` and return its STAR manifest's path.

    Layout: ``noisy/``, ``clean/``, ``odd/``, ``even/`` (float32 MRC, one ``(Y, X)`` image per
    file) and, with ``movies``, ``movies/`` (uint16 MRC stacks ``(frames, Y, X)``), the same
    file name ``{prefix}_{index:04d}.mrc`` in each, all with the pixel size in the header; plus
    ``micrographs.star`` (RELION-style columns: micrograph and movie names, defocus U/V,
    astigmatism angle, and pixelwise's clean/odd/even names) and ``micrographs.csv`` (columns
    ``noisy, clean, odd, even, movie``), with paths relative to ``output_dir``.
    """
    if count < 1:
        raise ConfigError(f"count must be >= 1, got {count}")
    output_dir = Path(output_dir)
    models = protein_models(config)
    rows = []
    for index in range(count):
        micrograph = simulate_micrograph(config, seed, index, models)
        name = f"{prefix}_{index:04d}.mrc"
        arrays = {
            "noisy": micrograph.noisy,
            "clean": micrograph.clean,
            "odd": micrograph.odd,
            "even": micrograph.even,
        }
        if movies:
            arrays["movies"] = micrograph.movie
        for kind, array in arrays.items():
            write_mrc(
                output_dir / kind / name, array, voxel_size=config.pixel_size, stack=array.ndim == 3
            )
        row = {kind: f"{kind}/{name}" for kind in arrays}
        rows.append((row, micrograph.ctf))
    _write_manifests(output_dir, rows, movies)
    return output_dir / "micrographs.star"


def _write_manifests(
    output_dir: Path, rows: list[tuple[dict[str, str], CTFParameters]], movies: bool
) -> None:
    import pandas as pd
    import starfile

    table = pd.DataFrame(
        {
            "rlnMicrographName": [row["noisy"] for row, _ in rows],
            **({"rlnMicrographMovieName": [row["movies"] for row, _ in rows]} if movies else {}),
            "rlnDefocusU": [ctf.defocus_u_a for _, ctf in rows],
            "rlnDefocusV": [ctf.defocus_v_a for _, ctf in rows],
            "rlnDefocusAngle": [ctf.astigmatism_angle_deg for _, ctf in rows],
            "rlnCtfBfactor": [ctf.bfactor for _, ctf in rows],
            "pwCleanName": [row["clean"] for row, _ in rows],
            "pwOddName": [row["odd"] for row, _ in rows],
            "pwEvenName": [row["even"] for row, _ in rows],
        }
    )
    with atomic_path(output_dir / "micrographs.star") as tmp:
        starfile.write({"micrographs": table}, tmp)
    lines = [["noisy", "clean", "odd", "even", "movie"]]
    lines += [
        [row["noisy"], row["clean"], row["odd"], row["even"], row.get("movies", "")]
        for row, _ in rows
    ]
    text = "\n".join(",".join(line) for line in lines) + "\n"
    write_text_atomic(output_dir / "micrographs.csv", text)
