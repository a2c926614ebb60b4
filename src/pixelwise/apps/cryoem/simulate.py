"""A cryo-EM micrograph simulator: movies, odd/even sums and the clean target, by seed.

Image formation follows the physics of a 300 kV cryo-EM exposure, with the numbers cited at
the config fields (isolated-atom superposition, which Vulović et al. 2013 find to be within
10% of the full interaction potential):

1. **Specimen.** A few protein species per data set, each an atom-like model of Gaussian
   pseudo-atoms laid along a confined, persistent chain (3.8 Å steps, like a backbone, with
   side-chain atoms around it). Every atom carries its full projected potential (the
   residue's neutral-atom total shared among its pseudo-atoms), and the ice it displaces is
   taken away as a smooth excluded volume, so a particle is 3.4 V denser than ice at low
   resolution but shows its full atomic contrast at high resolution. Particles sit at
   random, non-overlapping positions with uniformly random 3-D orientations.
2. **Ice.** Vitreous ice of a per-micrograph thickness with a slow (meniscus-like) variation,
   minus the protein's volume; its molecular texture is the projection of randomly placed
   water molecules with the structure factor of amorphous ice (low at low frequency, the
   water ring at 1/3.7 Å⁻¹), at the variance the molecule count implies.
3. **Support and contamination.** Sometimes the edge of a holey-carbon hole crosses the
   field (an amorphous-carbon film outside the hole, with its own atomic texture and no
   particles on it), and now and then a crystalline-ice contaminant sits on top.
4. **Optics.** The exit wave ``exp((i - eta) * phase) * exp(-t / (2 mfp))`` (phase from the
   projected potential at the voltage's interaction constant, amplitude contrast ``eta`` in
   proportion, zero-loss attenuation by the inelastic mean free paths as behind an energy
   filter) is propagated through the objective lens (:func:`.ctf.wave_transfer_2d`: defocus
   with astigmatism, Cs, B-factor envelope) and its intensity ``|psi|**2`` taken: exact for
   thick contaminants and carbon, and the weak-phase CTF image for weak objects, with protein
   dark at the usual underfocus.
5. **Detection.** The pixel's area integrates the intensity (the sinc MTF of an ideal pixel),
   then Poisson shot noise per frame at ``dose / frames`` e⁻/Å² per frame (an ideal counting
   detector, frames already motion-corrected). The noisy micrograph is the sum of all frames,
   the odd/even halves the sums of frames 1, 3, 5, ... and 2, 4, 6, ... and the clean target
   the expected count of the full sum, in the same units (e⁻ per pixel).

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

from pixelwise.apps.cryoem.ctf import (
    CTFParameters,
    electron_wavelength,
    interaction_constant,
    spatial_frequencies,
    wave_transfer_2d,
)
from pixelwise.errors import ConfigError
from pixelwise.io.atomic import atomic_path, write_text_atomic
from pixelwise.io.mrc import write_mrc

#: Sub-folders of a simulated data set, one file per micrograph in each, named alike.
KINDS = ("noisy", "clean", "odd", "even", "movies")


class SimulationConfig(BaseModel):
    """Every number of a simulated data set.

    Potentials are mean inner potentials of the isolated-atom superposition: the neutral-atom
    electron scattering factors f(0) (H 0.53, C 2.51, N 2.21, O 1.98, S 4.6 Å) times 47.88
    V Å² per Å (h² / 2π m0 e) give each atom's integrated potential. Water (H2O, 3.04 Å) at
    the 0.94 g/cm³ of low-density amorphous ice (31.8 Å³ a molecule) is 4.6 V; an average
    residue (C4.9 H7.8 N1.4 O1.5 S0.04, 110 Da, 22.7 Å) is 1085 V Å³ in 135 Å³ at the 1.35
    g/cm³ of protein, i.e. 8.0 V, 3.4 V above ice; amorphous carbon (2.0 g/cm³) 12 V by the
    same sum, about 9-11 V measured by holography, hence 10 V.
    """

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
    bfactor: tuple[float, float] = Field(
        (30.0, 90.0), description="range of micrograph B-factors (envelope), Å²"
    )
    species: int = Field(3, ge=1, le=50, description="distinct proteins in the data set")
    structure_seed: int = Field(0, ge=0, description="seed of the protein models")
    residues: tuple[int, int] = Field(
        (4000, 12000), description="range of chain lengths (440 kDa to 1.3 MDa at 110 Da each)"
    )
    atoms_per_residue: int = Field(
        10,
        ge=1,
        le=20,
        description="pseudo-atoms per residue; 10 match both the residue's total potential "
        "and its sum of squared atomic potentials (its high-resolution power) within 10%",
    )
    atom_sigma: float = Field(0.9, gt=0, le=5, description="pseudo-atom Gaussian sigma, Å")
    residue_potential: float = Field(
        1085.0, gt=0, le=5000, description="integrated potential of a residue, V Å³"
    )
    residue_volume_a3: float = Field(135.0, gt=0, le=500, description="Å³ (1.35 g/cm³)")
    solvent_sigma: float = Field(
        3.0, gt=0, le=10, description="smoothness of the ice the protein displaces, Å"
    )
    particle_fraction: float = Field(
        0.25, ge=0, le=0.6, description="share of the area covered by particles"
    )
    ice_thickness_a: tuple[float, float] = Field(
        (250.0, 600.0), description="range of mean ice thickness per micrograph, Å"
    )
    thickness_std_a: float = Field(
        20.0, ge=0, le=2000, description="std of the slow ice-thickness variation, Å"
    )
    ice_potential_v: float = Field(4.6, ge=0, le=20, description="mean inner potential of ice")
    water_volume_a3: float = Field(31.8, gt=0, le=100, description="Å³ a water molecule")
    inelastic_mfp_a: float = Field(
        3500.0,
        gt=0,
        le=1e5,
        description="inelastic mean free path of ice at 300 kV (about 3,100-3,900 Å measured; "
        "zero-loss attenuation behind an energy filter), Å",
    )
    carbon_probability: float = Field(
        0.1,
        ge=0,
        le=1,
        description="chance that a holey-carbon edge crosses the micrograph: collection "
        "targets the hole's centre and curation drops most edge views",
    )
    carbon_thickness_a: tuple[float, float] = Field(
        (100.0, 200.0), description="holey-carbon film, Å"
    )
    carbon_potential_v: float = Field(10.0, ge=0, le=30, description="mean inner potential")
    carbon_mfp_a: float = Field(1800.0, gt=0, le=1e5, description="carbon inelastic mfp, Å")
    contaminants_per_um2: float = Field(
        10.0,
        ge=0,
        le=1000,
        description="crystalline-ice contaminants (frost, 10-80 nm) per µm², on a clean grid",
    )

    @model_validator(mode="after")
    def _ranges(self) -> SimulationConfig:
        for name in ("defocus_um", "bfactor", "residues", "ice_thickness_a", "carbon_thickness_a"):
            low, high = getattr(self, name)
            if not 0 <= low <= high:
                raise ValueError(f"{name} must be a range 0 <= low <= high, got {(low, high)}")
        if min(self.shape) < 32 or max(self.shape) > 16384:
            raise ValueError(f"shape must lie within 32..16384 pixels, got {self.shape}")
        return self

    @property
    def padding(self) -> int:
        """Pixels simulated around the field on each side (and cropped): the delocalisation
        ``lambda * df * k`` of the highest-defocus CTF at Nyquist, so no fringe from beyond
        the periodic FFT border reaches the micrograph (16 to 256 pixels)."""
        defocus = (self.defocus_um[1] + self.astigmatism_um / 2) * 1e4
        reach = electron_wavelength(self.voltage_kv) * defocus / (2.0 * self.pixel_size**2)
        return int(min(256, max(16, math.ceil(reach))))


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


def _chain(
    rng: np.random.Generator, residues: int, per_residue: int, residue_volume: float
) -> np.ndarray:
    """Atom coordinates (n, 3) in Å of a compact, persistent chain centred on the origin."""
    radius = (3.0 * residue_volume * residues / (4.0 * math.pi)) ** (1.0 / 3.0)
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
        _chain(
            rng,
            int(rng.integers(low, high + 1)),
            config.atoms_per_residue,
            config.residue_volume_a3,
        )
        for _ in range(config.species)
    ]


def _place(
    rng: np.random.Generator,
    shape: tuple[int, int],
    config: SimulationConfig,
    models: list[np.ndarray],
) -> list[tuple[int, np.ndarray]]:
    """Random non-overlapping particles on a field of ``shape``: (species, centre in Å (x, y))."""
    height, width = (size * config.pixel_size for size in shape)
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


def _splat(shape: tuple[int, int], x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Bilinear deposit of unit point weights at pixel coordinates (x, y) onto a grid."""
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
        grid += np.bincount(yi[inside] * width + xi[inside], weights=w[inside], minlength=grid.size)
    return grid.reshape(shape)


def _gaussian(k: np.ndarray, sigma: float) -> np.ndarray:
    """Fourier transform of a unit-integral 2-D Gaussian of ``sigma`` Å at frequencies ``k``."""
    return np.exp(-2.0 * math.pi**2 * sigma**2 * k**2)


def _amorphous(
    rng: np.random.Generator,
    k: np.ndarray,
    column: np.ndarray,
    unit_potential: float,
    ring: float,
    sigma: float,
    pixel: float,
) -> np.ndarray:
    """Projected-potential texture (V Å, zero mean) of an amorphous solid, real space.

    ``column`` holds the scatterers per Å² over each pixel (thickness / volume per scatterer),
    each of integrated potential ``unit_potential`` (V Å³) and Gaussian size ``sigma``. Random
    positions give per-pixel variance ``column * unit_potential**2 / pixel**2``; the structure
    factor shapes it like that of water: 0.06 (its compressibility) up to 0.85 of the first
    diffraction ring ``ring`` 1/Å, a steep rise to a peak of 2.5 on the ring, about 1 beyond.
    """
    white = rng.standard_normal(column.shape) * np.sqrt(column) * unit_potential / pixel
    rise = 1.0 / (1.0 + np.exp(-(k - 0.85 * ring) / (0.04 * ring)))
    structure = 0.06 + 0.94 * rise + 1.5 * np.exp(-0.5 * ((k - ring) / (0.08 * ring)) ** 2)
    shaped = np.fft.fft2(white) * np.sqrt(structure) * _gaussian(k, sigma)
    shaped[0, 0] = 0.0
    return np.fft.ifft2(shaped).real


def _slow_field(rng: np.random.Generator, k: np.ndarray, std: float, length: float) -> np.ndarray:
    """A zero-mean Gaussian random field of ``std`` correlated over ``length`` Å, real space."""
    shaped = np.fft.fft2(rng.standard_normal(k.shape)) / (1.0 + (k * length) ** 2) ** 1.5
    shaped[0, 0] = 0.0
    field = np.fft.ifft2(shaped).real
    spread = field.std()
    return field * (std / spread) if spread > 0 else field


def _support(
    rng: np.random.Generator,
    shape: tuple[int, int],
    pad: int,
    k: np.ndarray,
    config: SimulationConfig,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(projected potential in V Å, attenuation exponent t / mfp, hole mask) of the carbon
    film and the contaminants on a field of ``shape`` (the micrograph plus ``pad`` a side).

    The carbon film lies outside a large circular hole whose edge crosses the field (with a 5%
    roughness over 10-40 Å and the atomic texture of amorphous carbon, first ring 1/2.1 Å⁻¹);
    each contaminant is a thick ice crystal with a wavy outline. Edges are anti-aliased over
    one pixel.
    """
    height, width = shape
    pixel = config.pixel_size
    y, x = np.indices(shape, dtype=np.float64)
    potential = np.zeros(shape)
    attenuation = np.zeros(shape)
    hole = np.ones(shape)
    if rng.random() < config.carbon_probability:
        shown = np.array([width, height]) - 2 * pad
        radius = rng.uniform(2.0, 6.0) * shown.max()  # pixels: a gently curved edge
        angle = rng.uniform(0, 2 * np.pi)
        offset = pad + rng.uniform(0.15, 0.85) * shown  # the edge crosses the micrograph
        centre = offset - radius * np.array([np.cos(angle), np.sin(angle)])
        film = np.clip(np.hypot(x - centre[0], y - centre[1]) - radius + 0.5, 0.0, 1.0)
        hole = 1.0 - film
        band = np.exp(-0.5 * ((k - 1 / 20.0) / (1 / 40.0)) ** 2)
        rough = np.fft.ifft2(np.fft.fft2(rng.standard_normal(shape)) * band).real
        thickness = rng.uniform(*config.carbon_thickness_a) * film
        thickness *= 1.0 + 0.05 * rough / max(float(rough.std()), 1e-12)
        atom_volume = 12.011 / (2.0 * 0.6022)  # Å³ per carbon atom at 2.0 g/cm³
        unit = config.carbon_potential_v * atom_volume
        potential += thickness * config.carbon_potential_v
        potential += _amorphous(rng, k, thickness / atom_volume, unit, 1 / 2.1, 0.5, pixel)
        attenuation += thickness / config.carbon_mfp_a
    area_um2 = height * width * pixel**2 * 1e-8
    for _ in range(int(rng.poisson(config.contaminants_per_um2 * area_um2))):
        size = rng.uniform(50.0, 400.0) / pixel  # radius, pixels
        cx, cy = rng.uniform(0, width), rng.uniform(0, height)
        theta = np.arctan2(y - cy, x - cx)
        wobble = 1.0 + sum(
            rng.uniform(0.0, 0.15) * np.cos(n * theta + rng.uniform(0, 2 * np.pi))
            for n in range(2, 6)
        )
        inside = np.clip(size * wobble - np.hypot(x - cx, y - cy) + 0.5, 0.0, 1.0)
        depth = rng.uniform(200.0, 1000.0) * inside
        potential += depth * config.ice_potential_v
        attenuation += depth / config.inelastic_mfp_a
    return potential, attenuation, hole


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


def form_image(
    potential: np.ndarray, attenuation: np.ndarray, pixel_size: float, params: CTFParameters
) -> np.ndarray:
    """Image intensity (in units of the incident beam) of a specimen through the microscope.

    ``potential`` is the projected potential (V Å) and ``attenuation`` the zero-loss exponent
    ``sum(t / mfp)``, both on a periodic field. The exit wave ``exp((i - eta) * phase -
    attenuation / 2)``, with ``eta = A / sqrt(1 - A**2)`` giving amplitude contrast ``A``, is
    propagated by :func:`.ctf.wave_transfer_2d` and its ``|psi|**2`` returned. The potential
    is taken relative to its mean: a uniform phase does not show, and the beam's loss is the
    inelastic attenuation's alone.

    Examples
    --------
    >>> params = CTFParameters(defocus_u_a=15000, defocus_v_a=15000)
    >>> flat = form_image(np.zeros((32, 32)), np.full((32, 32), 0.1), 1.0, params)
    >>> round(float(flat.mean()), 4), round(float(np.exp(-0.1)), 4)
    (0.9048, 0.9048)
    """
    phase = interaction_constant(params.voltage_kv) * (potential - potential.mean())
    amplitude = params.amplitude_contrast
    eta = amplitude / math.sqrt(1.0 - amplitude**2)
    wave = np.exp((1j - eta) * phase - 0.5 * attenuation)
    transfer = wave_transfer_2d(potential.shape, pixel_size, params)
    image = np.fft.ifft2(np.fft.fft2(wave) * transfer)
    return image.real**2 + image.imag**2


def _specimen(
    rng: np.random.Generator,
    shape: tuple[int, int],
    config: SimulationConfig,
    models: list[np.ndarray],
) -> tuple[np.ndarray, np.ndarray]:
    """(projected potential in V Å, zero-loss attenuation exponent) of one field of ``shape``."""
    pixel = config.pixel_size
    k, _ = spatial_frequencies(shape, pixel)
    support, absorbed, hole = _support(rng, shape, config.padding, k, config)
    xs, ys = [], []
    for species, centre in _place(rng, shape, config, models):
        column, row = int(centre[0] / pixel), int(centre[1] / pixel)
        if hole[min(row, shape[0] - 1), min(column, shape[1] - 1)] < 0.5:
            continue  # particles stay in the hole, off the carbon
        atoms = Rotation.random(random_state=rng).apply(models[species])
        xs.append((atoms[:, 0] + centre[0]) / pixel)
        ys.append((atoms[:, 1] + centre[1]) / pixel)
    counts = _splat(shape, np.concatenate(xs or [np.zeros(0)]), np.concatenate(ys or [np.zeros(0)]))
    density = np.fft.fft2(counts / pixel**2)  # pseudo-atoms per Å², Fourier space
    per_atom = 1.0 / config.atoms_per_residue
    excluded = per_atom * config.residue_volume_a3 * _gaussian(k, config.solvent_sigma)
    protein = np.fft.ifft2(density * excluded).real  # protein thickness, Å
    atoms = np.fft.ifft2(
        density * per_atom * config.residue_potential * _gaussian(k, config.atom_sigma)
    )
    mean_thickness = rng.uniform(*config.ice_thickness_a)
    thickness = mean_thickness + _slow_field(rng, k, config.thickness_std_a, 1000.0)
    water = np.clip(thickness - protein, 0.0, None)  # Å of ice over each pixel
    texture = _amorphous(
        rng,
        k,
        water / config.water_volume_a3,
        config.ice_potential_v * config.water_volume_a3,
        1 / 3.7,
        0.6,
        pixel,
    )
    potential = atoms.real + water * config.ice_potential_v + texture + support
    attenuation = (water + protein) / config.inelastic_mfp_a + absorbed
    return potential, attenuation


def _detect(intensity: np.ndarray) -> np.ndarray:
    """The intensity integrated over each pixel's area (sinc MTF), floored at zero: a guard,
    since a sinc filter may ring below zero at an edge (at a 3-rad contaminant edge and a
    carbon step the minimum found was still +0.001 of the beam)."""
    ky = np.fft.fftfreq(intensity.shape[0])[:, None]
    kx = np.fft.fftfreq(intensity.shape[1])[None, :]
    filtered = np.fft.ifft2(np.fft.fft2(intensity) * np.sinc(ky) * np.sinc(kx)).real
    return np.maximum(filtered, 0.0)


def simulate_micrograph(
    config: SimulationConfig, seed: int, index: int = 0, models: list[np.ndarray] | None = None
) -> Micrograph:
    """Simulate exposure ``index`` of the data set ``seed``.

    Examples
    --------
    >>> config = SimulationConfig(shape=(64, 64), frames=4, residues=(50, 60), species=1)
    >>> micrograph = simulate_micrograph(config, seed=1)
    >>> micrograph.movie.shape, micrograph.movie.dtype, round(float(micrograph.clean.mean()))
    ((4, 64, 64), dtype('uint16'), 35)
    """
    models = models if models is not None else protein_models(config)
    rng = np.random.default_rng([seed, index, 11])
    # Image formation works on a field padded on every side, cropped at the end, so the FFT's
    # periodic wrap-around never puts CTF fringes along the micrograph's borders.
    pad = config.padding
    shown = config.shape
    field = (shown[0] + 2 * pad, shown[1] + 2 * pad)
    potential, attenuation = _specimen(rng, field, config, models)
    params = _ctf_of(rng, config)
    intensity = form_image(potential, attenuation, config.pixel_size, params)
    intensity = _detect(intensity)[pad : pad + shown[0], pad : pad + shown[1]]
    per_frame = intensity * (config.dose / config.frames) * config.pixel_size**2
    movie = rng.poisson(per_frame, size=(config.frames, *shown))
    if movie.max() > np.iinfo(np.uint16).max:
        raise ConfigError(f"dose {config.dose} e/Å² gives counts beyond uint16 per frame")
    clean = (intensity * config.dose * config.pixel_size**2).astype(np.float32)
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
