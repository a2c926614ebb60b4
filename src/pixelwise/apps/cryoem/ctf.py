"""The contrast transfer function of a transmission electron microscope, in NumPy.

Conventions (those of CTFFIND, RELION and cisTEM): positive defocus is underfocus; the
wave aberration is ``chi(k) = pi * lambda * df(phi) * k**2 - pi/2 * Cs * lambda**3 * k**4``
with the astigmatic defocus ``df(phi) = (df_u + df_v)/2 + (df_u - df_v)/2 * cos(2 (phi -
angle))``; the CTF is ``-(sqrt(1 - A**2) sin(chi) + A cos(chi)) * exp(-B k**2 / 4)``, so that
the weak-phase image ``1 + 2 * (CTF * phase)`` shows positive potential (protein) dark at
low frequencies. The same ``chi`` and envelope act on the exit wave in
:func:`wave_transfer_2d` (``exp(i chi) * exp(-B k**2 / 4)``), whose intensity reduces to that
weak-phase image for a weak object with amplitude contrast ``A``. Written here rather than
taken from torch-ctf, which would add three packages (einops, torch-grid-utils and itself)
for about twenty lines of arithmetic.
"""

from __future__ import annotations

import math

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

#: Electron rest energy in keV.
REST_ENERGY_KEV = 510.99895


def electron_wavelength(voltage_kv: float) -> float:
    """Relativistic electron wavelength in Ångström at an accelerating voltage in kV.

    >>> round(electron_wavelength(300.0), 5)
    0.01969
    """
    volts = voltage_kv * 1e3
    return 12.2643 / math.sqrt(volts * (1.0 + 0.978466e-6 * volts))


def interaction_constant(voltage_kv: float) -> float:
    """Phase shift per unit projected potential, rad / (V Å) (0.000653 at 300 kV).

    >>> round(interaction_constant(300.0) * 1e4, 2)
    6.53
    """
    wavelength = electron_wavelength(voltage_kv)
    energy = voltage_kv
    return (
        2.0
        * math.pi
        / (wavelength * voltage_kv * 1e3)
        * (REST_ENERGY_KEV + energy)
        / (2.0 * REST_ENERGY_KEV + energy)
    )


class CTFParameters(BaseModel):
    """Microscope and imaging parameters of one micrograph."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    voltage_kv: float = Field(300.0, gt=0, le=3000)
    cs_mm: float = Field(2.7, ge=0, le=10, description="spherical aberration")
    amplitude_contrast: float = Field(0.07, ge=0, lt=1)
    defocus_u_a: float = Field(15000.0, ge=-1e5, le=1e6, description="Å, positive = underfocus")
    defocus_v_a: float = Field(15000.0, ge=-1e5, le=1e6, description="Å, positive = underfocus")
    astigmatism_angle_deg: float = Field(0.0, ge=-360, le=360)
    bfactor: float = Field(0.0, ge=0, le=1000, description="Å², envelope exp(-B k^2 / 4)")


def spatial_frequencies(shape: tuple[int, int], pixel_size: float) -> tuple[np.ndarray, np.ndarray]:
    """``(k, phi)``: spatial frequency magnitude in 1/Å and its angle, float64 of ``shape``.

    Laid out as ``numpy.fft.fft2`` lays out its output (zero frequency at ``[0, 0]``).
    """
    ky = np.fft.fftfreq(shape[0], d=pixel_size)[:, None]
    kx = np.fft.fftfreq(shape[1], d=pixel_size)[None, :]
    return np.hypot(kx, ky), np.arctan2(ky, kx)


def wave_aberration(shape: tuple[int, int], pixel_size: float, params: CTFParameters) -> np.ndarray:
    """The wave aberration ``chi(k)`` in radians, float64 of ``shape`` in ``numpy.fft`` layout.

    >>> chi = wave_aberration((1, 64), 1.0, CTFParameters(cs_mm=0.0))
    >>> float(chi[0, 0]), bool(chi[0, 1] > 0)  # underfocus: chi grows with k
    (0.0, True)
    """
    k, phi = spatial_frequencies(shape, pixel_size)
    wavelength = electron_wavelength(params.voltage_kv)
    angle = math.radians(params.astigmatism_angle_deg)
    defocus = 0.5 * (params.defocus_u_a + params.defocus_v_a) + 0.5 * (
        params.defocus_u_a - params.defocus_v_a
    ) * np.cos(2.0 * (phi - angle))
    cs = params.cs_mm * 1e7
    return math.pi * wavelength * defocus * k**2 - 0.5 * math.pi * cs * wavelength**3 * k**4


def envelope_2d(shape: tuple[int, int], pixel_size: float, params: CTFParameters) -> np.ndarray:
    """The B-factor envelope ``exp(-B k**2 / 4)``, float64 of ``shape`` in ``numpy.fft`` layout."""
    k, _ = spatial_frequencies(shape, pixel_size)
    return np.exp(-params.bfactor * k**2 / 4.0)


def ctf_2d(shape: tuple[int, int], pixel_size: float, params: CTFParameters) -> np.ndarray:
    """The 2-D CTF, float64 of ``shape`` in ``numpy.fft.fft2`` layout.

    Examples
    --------
    >>> ctf = ctf_2d((64, 64), 1.0, CTFParameters(amplitude_contrast=0.1))
    >>> round(float(ctf[0, 0]), 3)  # at zero frequency only amplitude contrast: dark protein
    -0.1
    """
    chi = wave_aberration(shape, pixel_size, params)
    amplitude = params.amplitude_contrast
    ctf = -(math.sqrt(1.0 - amplitude**2) * np.sin(chi) + amplitude * np.cos(chi))
    return ctf * envelope_2d(shape, pixel_size, params)


def wave_transfer_2d(
    shape: tuple[int, int], pixel_size: float, params: CTFParameters
) -> np.ndarray:
    """What the objective lens does to the exit wave's spectrum: ``exp(i chi) * envelope``.

    Applied to the Fourier transform of an exit wave ``exp((i - eta) * phase)`` with
    ``eta = A / sqrt(1 - A**2)``, the image intensity is, to first order in the phase,
    ``1 + 2 * (CTF * phase) / sqrt(1 - A**2)`` (see :func:`ctf_2d`); beyond first order it
    stays exact for strong objects (thick ice, carbon, contaminants).

    >>> transfer = wave_transfer_2d((8, 8), 1.0, CTFParameters())
    >>> complex(transfer[0, 0]), bool(np.all(np.abs(transfer) <= 1.0))
    ((1+0j), True)
    """
    chi = wave_aberration(shape, pixel_size, params)
    return np.exp(1j * chi) * envelope_2d(shape, pixel_size, params)
