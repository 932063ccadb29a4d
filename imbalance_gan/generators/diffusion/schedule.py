"""The diffusion process: the cosine noise schedule (Nichol & Dhariwal 2021), the forward
noising in closed form, classifier-free guidance, and the DDIM update (Song et al. 2021), whose
``eta = 1`` at the full step count is ancestral DDPM sampling (Ho et al. 2020).

Timesteps are ``0 .. T-1``; ``alphas_cumprod[t]`` is ᾱ of step ``t + 1`` in the papers' 1-based
notation, and the step before ``t = 0`` has ᾱ = 1 (the data)."""

from __future__ import annotations

import math

import torch


def cosine_betas(timesteps: int, s: float = 0.008, max_beta: float = 0.999) -> torch.Tensor:
    """β_t of the cosine schedule: ᾱ(t) = f(t) / f(0), f(t) = cos²(((t / T) + s) / (1 + s) · π/2),
    β_t = 1 − ᾱ(t + 1) / ᾱ(t), clipped at ``max_beta`` (float64)."""

    def f(t: float) -> float:
        return math.cos((t / timesteps + s) / (1 + s) * math.pi / 2) ** 2

    betas = [min(1 - f(i + 1) / f(i), max_beta) for i in range(timesteps)]
    return torch.tensor(betas, dtype=torch.float64)


class Schedule:
    """ᾱ and the updates of a ``timesteps``-step cosine schedule."""

    def __init__(self, timesteps: int = 1000) -> None:
        if timesteps < 2:
            raise ValueError(f"timesteps={timesteps} must be at least 2")
        self.timesteps = int(timesteps)
        self.betas = cosine_betas(self.timesteps)
        self.alphas_cumprod = torch.cumprod(1 - self.betas, dim=0)
        self._tables: dict[tuple, torch.Tensor] = {}

    def _abar(self, t: torch.Tensor | int, like: torch.Tensor) -> torch.Tensor:
        """ᾱ_t (1 for t = -1) shaped to broadcast over a batch like ``like``; looked up in a
        copy on ``like``'s device and dtype, so a GPU step does not wait for the host."""
        key = (like.device, like.dtype)
        table = self._tables.get(key)
        if table is None:  # index 0 is t = -1 (ᾱ = 1), index t + 1 is ᾱ_t
            ones = torch.ones(1, dtype=torch.float64)
            table = torch.cat([ones, self.alphas_cumprod]).to(like.device, like.dtype)
            self._tables[key] = table
        t = torch.as_tensor(t, device=like.device).long()
        abar = table[t + 1]
        return abar.reshape(-1, *([1] * (like.dim() - 1))) if abar.dim() else abar

    def noise(self, x0: torch.Tensor, t: torch.Tensor, eps: torch.Tensor) -> torch.Tensor:
        """x_t = √ᾱ_t · x_0 + √(1 − ᾱ_t) · ε (the forward process in closed form)."""
        abar = self._abar(t, x0)
        return abar.sqrt() * x0 + (1 - abar).sqrt() * eps

    def snr(self, t: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
        """The signal-to-noise ratio ᾱ_t / (1 − ᾱ_t) at each of ``t``, shaped and typed like
        ``like`` (one value per image)."""
        abar = self._abar(t, like)
        return abar / (1 - abar)

    def predicted_x0(self, x_t: torch.Tensor, eps: torch.Tensor, t: torch.Tensor | int):
        abar = self._abar(t, x_t)
        return (x_t - (1 - abar).sqrt() * eps) / abar.sqrt()

    def ddim_step(
        self,
        x_t: torch.Tensor,
        eps: torch.Tensor,
        t: int,
        t_prev: int,
        eta: float = 0.0,
        noise: torch.Tensor | None = None,
        clip: bool = True,
    ) -> torch.Tensor:
        """x at ``t_prev`` (< t; -1: the data) from x_t and the predicted noise (Song et al. 2021,
        eq. 12): ``eta`` 0 is deterministic DDIM; 1 with ``t_prev = t - 1`` is DDPM's
        ancestral step. ``clip`` keeps the predicted x_0 inside the data's range [-1, 1]."""
        abar, abar_prev = self._abar(t, x_t), self._abar(t_prev, x_t)
        x0 = self.predicted_x0(x_t, eps, t)
        if clip:
            x0 = x0.clamp(-1, 1)
        sigma = eta * ((1 - abar_prev) / (1 - abar) * (1 - abar / abar_prev)).sqrt()
        out = abar_prev.sqrt() * x0 + (1 - abar_prev - sigma**2).clamp_min(0).sqrt() * eps
        if eta > 0 and t_prev >= 0:
            out = out + sigma * (noise if noise is not None else torch.randn_like(x_t))
        return out

    def ddpm_mean(self, x_t: torch.Tensor, eps: torch.Tensor, t: int) -> torch.Tensor:
        """The mean of DDPM's ancestral step p(x_{t-1} | x_t) (Ho et al. 2020, eq. 11):
        (x_t − β_t / √(1 − ᾱ_t) · ε) / √α_t."""
        beta = torch.as_tensor(self.betas[t], dtype=x_t.dtype, device=x_t.device)
        abar = self._abar(t, x_t)
        return (x_t - beta / (1 - abar).sqrt() * eps) / (1 - beta).sqrt()

    def sampling_timesteps(self, steps: int) -> list[int]:
        """``steps`` timesteps from T-1 down, evenly spaced (the last is 0)."""
        if not 1 <= steps <= self.timesteps:
            raise ValueError(f"sampling steps={steps} must be in [1, {self.timesteps}]")
        if steps == 1:  # one step: from pure noise (T-1) straight to the data
            return [self.timesteps - 1]
        return sorted(
            {round(i * (self.timesteps - 1) / (steps - 1)) for i in range(steps)}, reverse=True
        )


def guided(eps_cond: torch.Tensor, eps_uncond: torch.Tensor, scale: float) -> torch.Tensor:
    """Classifier-free guidance (Ho & Salimans 2022): ε_u + w · (ε_c − ε_u). ``scale`` w = 1
    is the conditional prediction alone, w = 0 the unconditional one, w > 1 guided."""
    return eps_uncond + scale * (eps_cond - eps_uncond)
