"""The simulator's MiniWorld environment: a house plan (layout.py) built headless from MiniWorld's
own meshes (desks, chairs, barrels, keys, keycards, ducks, potions, medkits, balls) and textures
(floors, walls, portraits)."""

from __future__ import annotations

import contextlib
import io
from typing import Any

import numpy as np

from device.sim.errors import SimError
from device.sim.layout import (DOOR_HEIGHT_M, FURNITURE_KINDS, PHONE_SIZE_M, WALL_HEIGHT_M, HouseLayout, Painting,
                               facing_dir, miniworld_dir)

CABINET_RGB = (0.45, 0.28, 0.15)
PHONE_RGB = (0.08, 0.08, 0.1)


def make_house_env(layout: HouseLayout, width: int, height: int) -> Any:
    """Build a headless MiniWorld env (a MiniWorldEnv subclass) for `layout`.

    The env exposes `layout` (rooms with their rectangles, textures, furniture and spots; doors;
    items) and `items`, item name -> MiniWorld entity. The caller moves the agent, camera and
    items directly (see record.py); the env's physics actions are never used.
    """
    try:
        import pyglet

        pyglet.options["headless"] = True  # must precede the first miniworld import
        from miniworld.entity import Box, Entity, ImageFrame, MeshEnt
        from miniworld.miniworld import MiniWorldEnv
        from miniworld.opengl import Texture
    except ImportError as e:
        raise SimError(f"cannot import miniworld ({e}); run `pip install -e .[sim]` "
                       "(miniworld==2.1.0, pyglet<2)") from e
    portrait_dir = miniworld_dir() / "textures" / "portraits"

    class PlainBox(Box):  # an exact colour: MiniWorld's Box takes only its six colour names
        def __init__(self, rgb: tuple[float, float, float], size: tuple[float, float, float], static: bool) -> None:
            super().__init__(color="grey", size=list(size))
            self.rgb, self.static = rgb, static

        def randomize(self, params: Any, rng: Any) -> None:
            self.color_vec = np.array(self.rgb)

        @property
        def is_static(self) -> bool:
            return self.static

    class Portrait(ImageFrame):  # ImageFrame's loader looks for NAME_1.png; portraits are NAME1.png
        def __init__(self, p: Painting) -> None:
            Entity.__init__(self)
            path = str(portrait_dir / p.texture)
            if path not in Texture.tex_cache:
                Texture.tex_cache[path] = Texture(Texture.load(path), p.texture)
            self.tex = Texture.tex_cache[path]
            self.pos, self.dir, self.width, self.depth = np.array([p.x, p.y, p.z]), p.dir, p.width_m, 0.05
            self.height = self.tex.height / self.tex.width * self.width

    class HouseEnv(MiniWorldEnv):
        def __init__(self) -> None:
            self.layout = layout
            self.items: dict[str, Any] = {}
            super().__init__(max_episode_steps=10**9, obs_width=width, obs_height=height,
                             window_width=width, window_height=height)

        def _gen_world(self) -> None:
            for room in layout.rooms:
                r = room.rect
                self.add_rect_room(min_x=r.min_x, max_x=r.max_x, min_z=r.min_z, max_z=r.max_z,
                                   wall_height=WALL_HEIGHT_M, floor_tex=room.floor, wall_tex=room.wall,
                                   ceil_tex=room.ceiling)
            # A rectangle's edges in MiniWorld: 0 east (x = max_x), 1 north (z = min_z), 2 west, 3 south.
            for d in layout.doors:
                a, b = self.rooms[d.room_a], self.rooms[d.room_b]
                if d.normal[0]:
                    lo, hi = d.z - d.width_m / 2, d.z + d.width_m / 2
                    a.add_portal(0, min_z=lo, max_z=hi, max_y=DOOR_HEIGHT_M)
                    b.add_portal(2, min_z=lo, max_z=hi, max_y=DOOR_HEIGHT_M)
                else:
                    lo, hi = d.x - d.width_m / 2, d.x + d.width_m / 2
                    a.add_portal(3, min_x=lo, max_x=hi, max_y=DOOR_HEIGHT_M)
                    b.add_portal(1, min_x=lo, max_x=hi, max_y=DOOR_HEIGHT_M)
            for room in layout.rooms:
                for f in room.furniture:
                    if f.mesh == "box":
                        _, h, w, dep, _ = FURNITURE_KINDS[f.kind]
                        ent: Any = PlainBox(CABINET_RGB, (w, h, dep), static=True)
                    else:
                        ent = MeshEnt(mesh_name=f.mesh, height=f.height_m, static=True)
                    self.place_entity(ent, pos=np.array([f.x, 0.0, f.z]), dir=f.dir)
                for p in room.paintings:
                    self.entities.append(Portrait(p))
            for item, spot in zip(layout.items, layout.start_spots):
                if item.mesh == "box":
                    ent = PlainBox(item.rgb or PHONE_RGB, item.size_m or PHONE_SIZE_M, static=False)
                else:
                    ent = MeshEnt(mesh_name=item.mesh, height=item.height_m, static=False)
                self.items[item.name] = self.place_entity(
                    ent, pos=np.array([spot.x, spot.y, spot.z]), dir=facing_dir(*spot.facing))
            x, z = layout.rooms[0].rect.centre
            self.place_agent(pos=np.array([x, 0.0, z]), dir=0.0)

    # MiniWorld prints "Falling back to num_samples=4" on stdout while it makes its frame buffers.
    with contextlib.redirect_stdout(io.StringIO()):
        try:
            return HouseEnv()
        except (pyglet.window.WindowException, pyglet.gl.ContextException, pyglet.gl.ConfigException,
                ImportError, OSError) as e:  # no EGL/Mesa: pyglet fails in one of these ways
            raise SimError(f"headless OpenGL failed ({e}); install Mesa EGL: apt-get install libegl1 "
                           "libegl-mesa0 libgl1 libgl1-mesa-dri libglu1-mesa libopengl0 libgbm1") from e
