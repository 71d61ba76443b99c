"""The strict protocol's few-shot pool, frozen as data.

The strict protocol shows its few-shot demos from invented people who are in no
split of any benchmark (their IDs, ``pool_1`` and ``pool_2``, cannot collide
with upstream's three-digit IDs), so the model never sees an evaluated
person's answers in its context (upstream issue #21). The pool is fixed data:
changing a word or a pixel of it changes every strict result, so it is pinned,
with the strict protocol's version, by ``tests/benchmark/test_prompt_drift.py``.

It was made once by the demo generator (two people drawn with seed 77, in the
demo benchmark's style; the portraits are drawn shapes, 128x128 JPEG) and
copied here; the strict protocol does not depend on the demo.
"""

from __future__ import annotations

import base64
import functools
from typing import Any

from benchmark.dataset import Cloze, Generation, MultipleChoice, Profile
from benchmark.vocabulary import Modality

_POOL: tuple[dict[str, Any], ...] = (
    {
        "id": "pool_1",
        "name": "Quillon Underhill",
        "biography": {
            "Name": "Quillon Underhill",
            "Born": "1962, Bergen, Norway",
            "Employment": "Sound engineer at Harbor & Finch",
            "Education": "Ostrander University",
            "Hobbies": "Playing the cello",
            "Pets": "a tortoise",
            "Favourite food": "pierogi",
            "appearance_detail": "Grey hair, blue eyes, wears glasses, a yellow shirt, photographed against a light grey background.",
        },
        "question": "What is Quillon Underhill's occupation?",
        "answer": "Quillon Underhill works as a sound engineer at Harbor & Finch.",
        "portrait_jpeg_base64": (
            "/9j/4AAQSkZJRgABAQAAAQABAAD/2wBDAAQDAwMDAgQDAwMEBAQFBgoGBgUFBgwICQcKDgwPDg4MDQ0PERYTDxAVEQ0NExoTFRcY"
            "GRkZDxIbHRsYHRYYGRj/2wBDAQQEBAYFBgsGBgsYEA0QGBgYGBgYGBgYGBgYGBgYGBgYGBgYGBgYGBgYGBgYGBgYGBgYGBgYGBgY"
            "GBgYGBgYGBj/wAARCACAAIADASIAAhEBAxEB/8QAHwAAAQUBAQEBAQEAAAAAAAAAAAECAwQFBgcICQoL/8QAtRAAAgEDAwIEAwUF"
            "BAQAAAF9AQIDAAQRBRIhMUEGE1FhByJxFDKBkaEII0KxwRVS0fAkM2JyggkKFhcYGRolJicoKSo0NTY3ODk6Q0RFRkdISUpTVFVW"
            "V1hZWmNkZWZnaGlqc3R1dnd4eXqDhIWGh4iJipKTlJWWl5iZmqKjpKWmp6ipqrKztLW2t7i5usLDxMXGx8jJytLT1NXW19jZ2uHi"
            "4+Tl5ufo6erx8vP09fb3+Pn6/8QAHwEAAwEBAQEBAQEBAQAAAAAAAAECAwQFBgcICQoL/8QAtREAAgECBAQDBAcFBAQAAQJ3AAEC"
            "AxEEBSExBhJBUQdhcRMiMoEIFEKRobHBCSMzUvAVYnLRChYkNOEl8RcYGRomJygpKjU2Nzg5OkNERUZHSElKU1RVVldYWVpjZGVm"
            "Z2hpanN0dXZ3eHl6goOEhYaHiImKkpOUlZaXmJmaoqOkpaanqKmqsrO0tba3uLm6wsPExcbHyMnK0tPU1dbX2Nna4uPk5ebn6Onq"
            "8vP09fb3+Pn6/9oADAMBAAIRAxEAPwD6uooooAKKKKACimu6RxtJI6oigszMcAAdSTXEaz44kZzDow2KODPImSTn+EHjGB3Geegx"
            "TSuB2000NvC01xKkUa9XdgoHbqaypvFOgQTNE+ooWHUorOPzUEGvMLi5ubqQSXVxLO4G0NK5YgemTUVPlA9TTxZ4fkkVF1FQWIA3"
            "Ruo/EkYFalvc211GZLW4inQHaWicMAfTIrxinwzTW8yzW8rxSL0dGKkduoo5QPaaK890fxrd2rLDqga6gAx5igeYOOPQN07885z2"
            "rvba5gvLSO5tpVkikGVZe9JqwEtFFFIAooooAKKKKACiisbxRqT6Z4clki3CWU+SjD+EkHJzkY4BwfXFAHJ+LPEL6hdvp9nKpsoy"
            "Msh/1re59AenbjPPGOYoorQAooooAKKKKACtvw5r02j36xu+bOVgJUOcL23jHcfqPwxiUUAe1I6SRrJG6ujAMrKcgg9CDTq5jwTq"
            "T3mivZy7i9qQoY90OcDOe2CPpiunrNgFFFFABRRRQAVxfxBdxHp8YdghMjFc8Ejbg4/E/ma7SuQ8f2+7TbO7348uUx7cddwznP8A"
            "wD9aa3A8/nmjt7aS4mbbHGpd2xnAAyTxXkc+vaxNcyTf2ldx72LbI5nCrk5wBngV3nje48jwm8Wzd58qR5zjbg7s+/3cfjXjKyeJ"
            "fFPiI+GvAVkby8RjHcXKQNP5bAZKRIoJklVcuR91duG68eTmM5SqKnB2sexl8IRpupJXudP/AG1rH/QWvv8Av+/+NH9tax/0Fr7/"
            "AL/v/jRr3wH/AGhPCOjPrmoOLu3hyXjktIXjA2klpDbuzoqgE7sYyACea57RtZi1aCVHhe1vrdhHdWchy8L/APsynqrDgj8QPPqQ"
            "q093+f62PQpTpVNl+X6XOh/trWP+gtff9/3/AMaP7a1j/oLX3/f9/wDGuYWTxL4p8RHw14CsjeXiMY7i5SBp/LYDJSJFBMkqrlyP"
            "urtw3Xjp9e+A/wC0J4R0Z9c1Bxd28OS8clpC8YG0ktIbd2dFUAndjGQATzVRp1ZK/N+f6bfMUqtKLty/l+r1+Qf21rH/AEFr7/v+"
            "/wDjXq2k3w1LRLa9BUmWMFtoIAbowGfQgivCNG1mLVoJUeF7W+t2Ed1ZyHLwv/7Mp6qw4I/ED1L4fXG7Tby02Y8uUSbs9dwxjHts"
            "/WurLqso1nTl1OXMKUJUVUh0PW/ATuNfuIw7BDbliueCQy4OPxP5mvQq4LwBb7tSvLvfjy4hHtx13HOc/wDAP1rva9p7nhBRRRSA"
            "KKKKACqupWMepaVPYynCyrgN/dPUH3wQDirVFAHzF8TIbqymsrK4V4mVpN8RPGRtwfQ8E4Pofen/ALF1zbR6b4o0a3nitPHM1pdW"
            "9reXDjatyHZnD5yJX/493yFf5Ym7Ag9d8f8ASiING1mG2UJvkgnmBAyxClARnnhH5x2we1fOWq6HdvqJ1jQL5NP1EqFmDx74btV+"
            "6sg7HtvHzAEjnjHkVa/ssU5NdnrtovyPapUPbYVJea083/wPuPqv4LeHPiR4c+Kuqaz4jW90jSIUmk1u51Rykd0QHIYO2RIQ+XMg"
            "OAu75sPhvkXxNLcXfx61+6+HNtaWunLEFeDUS4CK0jNCr7SS8gi2jdlsDIzWzqviT42+J7NdN8ReNLeSzDiQO09zdtEwBwyxzMUz"
            "yVyegY4qlPap4d8OxWOkM6XFzcKguJcO0krnLSSMepODk49MDAGOvOc5+v1fauKTtay/X+u3Y58pyn6nD2ak7Xvd/p/X56exfsXX"
            "NtHpvijRreeK08czWl1b2t5cONq3IdmcPnIlf/j3fIV/libsCD6Z8FvDnxI8OfFXVNZ8Rre6RpEKTSa3c6o5SO6IDkMHbIkIfLmQ"
            "HAXd82Hw3ypquh3b6idY0C+TT9RKhZg8e+G7VfurIOx7bx8wBI54xa1XxJ8bfE9mum+IvGlvJZhxIHae5u2iYA4ZY5mKZ5K5PQMc"
            "VrgM8+rYerRUYvn77r+uhljcm9vXp1HJ+726/j95Wv5dLu/2iPEV14YtpbXRVt9pgc4ZC0paBXyTvcQ4G7LY6Zr0n4e+c/iSa3i3"
            "t5kHEa5O5t6gcdzycfWuF0rSrTR9OFpaByCxkklkbdJM5+87t/Ex7n+gAr2H4EaUbvxxfajJbLJb2lrjexHySs6lOM88I/OOMeuK"
            "8ahPmxEWj1sRDkw0uY908PaX/ZOgxWzjEzfvJf8AfPbqRwMDj0zWpRRX0B84FFFFABRRRQAUUUUAcD8Y9J/tT4UXcqpO8tjLHdos"
            "QznB2MWGD8oR3Y9MYz0Br5hr7ZmhhubaS3uIkmhkUpJHIoZXUjBBB4II7V8feKPDl94V8UXWjX8bgxsTFKy7RPHk7ZByRggepwcg"
            "8g142Z0mpKoj28qqpxdN+pj1ja5Dfy3mnyWll9rigkMrxeYsfzAfIcn0JJ/nWpJMscqq/wAqsD85PGfSpa8qx7Di0k2MhaR7eN5Y"
            "vKkZQWj3btpxyM98U+kJABJIAHJJpkUolLFQdoOA3ZvpRYFFtXJK+g/gJpP2bwdqOsOk6Pe3IiXeMI0ca8MvHPzPICckfLjsa8G0"
            "3Tb7WNWg0zTLV7m7nbZHEnUn+QAGSSeAASeK+wdA0iHQPC9ho0GwraQLEXSMRiRgPmfaOhY5Y9eSeTXpZbScpufRHlZpVUaap9Wa"
            "NFFFe4eCFFFFABRRRQAUUUUAFcX8Qfh9Y+NtJDoUttWgUi2uiOCOvlyY5KE/ipOR3DdpRUThGpFxktC6dSVOSlF6nxZqml3ulapc"
            "aVqto0FzA2yWGQdD1+hB4II4III4rN+xRrxFJNEP7qPxX1B8ZdH0u5+Gd/q89hA1/a+T5N1txIoMqqV3Dkrh2+U8ZOcZwa+aK+ex"
            "NF4efKmfU4LGSq0+ZaFcWUW4GRpJcdPMbOKtwQSz3EVrawvLLIwjjijUszMTgKAOpPTFMr3z4D6Ppcnha71uSwgfUUvmhS5ddzxo"
            "Ik4Un7v32zjGc85wKmhSdeahceLxTpw55amx8MvhlD4Utk1jWESbW5F4GQy2ikcqp6FyOGYfQcZLekUUV9FSpRpR5Y7Hy1WrKrLn"
            "nuFFFFaGYUUUUAFFFFABRRWZf6kYmMNuw3j7zdce31rz8yzOhl1F18Q7Lt1b7I1o0J1pcsC7PdQWy5lcA9lHJP4VmTazI2RBGEHP"
            "zNyfY/5zWaSWYsxJJ5JPekr8qzPjXHYpuNB+zj5b/f8A5WPeo5bShrPVmV40sdS8TeC73R7e5RZZ/LCmUlU+WRW52g+h7V5N/wAK"
            "d8Tf8/2k/wDf2T/4ivbqK8ihn+Noprn5ru93q/vZ3xhGKtFWPEf+FO+Jv+f7Sf8Av7J/8RXpXw80PVfB/hybT7u6haR7ppx9nZmT"
            "BRV53Ac/Ke3pXSUUV+IMbWjyuVut1o/vQSipKzVzRi1idBiVFkHr901p297b3PEb4b+43B/+vXN0V6eW8Z5hhGlVftI9nv8A+Bb/"
            "AH3OGtltKp8Oj/rodZRWRY6mwcRXT5B4Vz2+v+Na9fquU5vh80o+2oP1T3Xr+h4WIw86EuWYUUUV6hgFFFFAFPUro21rtT775A9h"
            "3Nc/V7Vn36iVxjYoX69/61Rr8Q4tzGeMzCcG/dpvlXy3/E+ny+iqdFPq9Qooor5g7QooooAKKKKACiiigAra0m6MkRt3+8gyp9R/"
            "9asWrFg/l6jC2M5bb+fH9a93hvMZ4DH05xfuyajL0b/Tf5HLjKKq0mnutUdJRRRX7yfKn//Z"
        ),
        "multiple_choice": (
            ("image_text", "Which city was this person born in?", "D",
             {"A": "Quebec City, Canada", "B": "Valparaíso, Chile", "C": "Riga, Latvia", "D": "Bergen, Norway"}),
            ("image_text", "What is this person's occupation?", "D",
             {"A": "veterinarian", "B": "orthodontist", "C": "museum curator", "D": "sound engineer"}),
            ("image_text", "What hobby is this person known for?", "B",
             {"A": "Playing chess", "B": "Playing the cello", "C": "Stargazing", "D": "Sailing"}),
            ("image_text", "What color is this person's shirt in the image?", "D",
             {"A": "white", "B": "orange", "C": "teal", "D": "yellow"}),
            ("image_text", "Which organisation does this person work for?", "B",
             {"A": "Bluegate Studio", "B": "Harbor & Finch", "C": "Tidewater Clinic", "D": "Meridian Works"}),
            ("text", "In what year was Quillon Underhill born?", "B",
             {"A": "1973", "B": "1962", "C": "1969", "D": "1959"}),
            ("text", "Where did Quillon Underhill study?", "A",
             {"A": "Ostrander University", "B": "St. Aubrey University", "C": "Royal Academy of Westbrook", "D": "Caldwell College"}),
            ("text", "What is Quillon Underhill's favourite food?", "C",
             {"A": "falafel", "B": "ramen", "C": "pierogi", "D": "dumplings"}),
            ("text", "What pet does Quillon Underhill have at home?", "B",
             {"A": "no pets", "B": "a tortoise", "C": "a grey parrot", "D": "two cats"}),
            ("text", "What is Quillon Underhill's profession?", "C",
             {"A": "beekeeper", "B": "botanist", "C": "sound engineer", "D": "architect"}),
        ),
        "generation": (
            ("image_text", "What does this person do, and where?", "This person works as a sound engineer at Harbor & Finch."),
            ("image_text", "Where and when was this person born?", "This person was born in Bergen, Norway in 1962."),
            ("text", "Where did Quillon Underhill study, and what is their hobby?", "Quillon Underhill studied at Ostrander University and enjoys playing the cello."),
            ("text", "What pet and food does Quillon Underhill love?", "Quillon Underhill lives with a tortoise and loves pierogi."),
        ),
        "cloze": (
            ("image_text", "This person was born in the city of __.", "Bergen"),
            ("image_text", "This person works at __.", "Harbor & Finch"),
            ("text", "Quillon Underhill studied at __.", "Ostrander University"),
            ("text", "Quillon Underhill's favourite food is __.", "pierogi"),
        ),
    },
    {
        "id": "pool_2",
        "name": "Liora Marchetti",
        "biography": {
            "Name": "Liora Marchetti",
            "Born": "1982, Tbilisi, Georgia",
            "Employment": "Botanist at Silverline Transit",
            "Education": "Linford Polytechnic",
            "Hobbies": "Playing chess",
            "Pets": "a border collie",
            "Favourite food": "curry",
            "appearance_detail": "Blue hair, grey eyes, wears glasses, an orange shirt, photographed against a lavender background.",
        },
        "question": "What is Liora Marchetti's occupation?",
        "answer": "Liora Marchetti works as a botanist at Silverline Transit.",
        "portrait_jpeg_base64": (
            "/9j/4AAQSkZJRgABAQAAAQABAAD/2wBDAAQDAwMDAgQDAwMEBAQFBgoGBgUFBgwICQcKDgwPDg4MDQ0PERYTDxAVEQ0NExoTFRcY"
            "GRkZDxIbHRsYHRYYGRj/2wBDAQQEBAYFBgsGBgsYEA0QGBgYGBgYGBgYGBgYGBgYGBgYGBgYGBgYGBgYGBgYGBgYGBgYGBgYGBgY"
            "GBgYGBgYGBj/wAARCACAAIADASIAAhEBAxEB/8QAHwAAAQUBAQEBAQEAAAAAAAAAAAECAwQFBgcICQoL/8QAtRAAAgEDAwIEAwUF"
            "BAQAAAF9AQIDAAQRBRIhMUEGE1FhByJxFDKBkaEII0KxwRVS0fAkM2JyggkKFhcYGRolJicoKSo0NTY3ODk6Q0RFRkdISUpTVFVW"
            "V1hZWmNkZWZnaGlqc3R1dnd4eXqDhIWGh4iJipKTlJWWl5iZmqKjpKWmp6ipqrKztLW2t7i5usLDxMXGx8jJytLT1NXW19jZ2uHi"
            "4+Tl5ufo6erx8vP09fb3+Pn6/8QAHwEAAwEBAQEBAQEBAQAAAAAAAAECAwQFBgcICQoL/8QAtREAAgECBAQDBAcFBAQAAQJ3AAEC"
            "AxEEBSExBhJBUQdhcRMiMoEIFEKRobHBCSMzUvAVYnLRChYkNOEl8RcYGRomJygpKjU2Nzg5OkNERUZHSElKU1RVVldYWVpjZGVm"
            "Z2hpanN0dXZ3eHl6goOEhYaHiImKkpOUlZaXmJmaoqOkpaanqKmqsrO0tba3uLm6wsPExcbHyMnK0tPU1dbX2Nna4uPk5ebn6Onq"
            "8vP09fb3+Pn6/9oADAMBAAIRAxEAPwD6gooor6Q0CiiigAopk00NtbSXFxKkMMal5JJGCqigZJJPAAHevDvGXxwuJZTZeDF8mIZD"
            "39xEC7ENwY0OQFIHVhk7uikZPXhMFVxUuWmvn0Rz4jFU8OrzZ7beXtnp9k95f3cFrbpjfNPIERcnAyx4HJA/GuWvPil4Bsb17Wbx"
            "HAzpjJgikmTkZ4dFKnr2PtXy/f6nqWq3K3GqahdXsyrsElzK0jBck4BYk4yTx7mqtfQUuHYJfvZt+mn+Z41TOp3/AHcV8/6R9Tw/"
            "Fj4fT3McCeIkDSMEBkt5UUEnHLMgAHuSAK6mw1PTdVtmuNL1C1vYVbYZLaVZFDYBwSpIzgjj3FfF9T2d7eafepeWF3Pa3CZ2TQSF"
            "HXIwcMORwSPxp1eHabX7ubT89f8AIVPOpp+/FfL+mfadFfPXg/416vpckdn4oD6nYqpUToo+0pgALySA4453fN8xO44wfe9N1Kx1"
            "jSYNT0y5S5tJ13xyp0I/mCDkEHkEEHmvAxmAq4R2qLTv0PYw2Mp4he49exaoooriOoKKKKACiiigAoorjPil4lm8MfDm5uLQut3d"
            "sLOCRMjy2cElsggghVbBHRtvGM1rRpSq1FTjuyKtRU4OctkeTfFj4iTa/q03h7SLtDotuwDyQMSLtxgkk90U8ADIJG7J+XHmNFFf"
            "oWGw8MPTVOC0X9XPi69aVabnPcKKKK3MgooooAK7b4cePbzwdryW8027RrqVRdRPkiPOB5q4BIYDqAPmAx12kcTRWVajCtB05q6Z"
            "pSqypSU4PVH2vDNDc20dxbypNDIoeOSNgyupGQQRwQR3p9eY/BLxLNrHgubRrou82lMqJI2TmJ8lBkknKlWGMABQgHevTq/PcVQe"
            "HqypS6H2VCsq1NVF1CiiisDYKKKKACvFf2gppltvD9usriF2uHaMMdrMojCkjoSAzYPbJ9a9qryD4/6f5vhvR9W87H2e5e38rb97"
            "zF3ZznjHldMc7vbn0soaWLhfz/JnDmSbw07f1qeGWFjdanqttptjF5t1dSrBDHuC7nYhVGTgDJI5NfZ1h8OvBFjpVtY/8Ito9z5E"
            "Sxefc2MLyybQBudtvLHGSe5r54+AWmfb/jJBdef5f9n2k11t258zIEW3OeP9bnPP3cd8j13X/F/jXxl4svfBPwbOmrJp0httb8UX"
            "8TT2+nyEYNvbRrxcXaBvMZT+7TaqOcvhfJ46zGq8VTwtGTSiruza1ff0S09R8PYaCoyrTV23ZfL+vwOy/wCEE8Ef9Cb4f/8ABdD/"
            "APE0f8IJ4I/6E3w//wCC6H/4muDm+Gv7TWgxHVbP40aP4jnh+7pes+GobW0mzwfMltmMqbQSw2jllUHgmuv8B+PLTxrp13DNYTaN"
            "4h0uQW2s6DdsDPp8xGQMjiSJx80cq/LIvIwQwHw1Sviob1Jfe/1sfQwhRntFfcv0Lv8Awgngj/oTfD//AILof/iaP+EE8Ef9Cb4f"
            "/wDBdD/8TXG6/wCL/GvjLxZe+Cfg2dNWTTpDba34ov4mnt9PkIwbe2jXi4u0DeYyn92m1Uc5fC1Zvhr+01oMR1Wz+NGj+I54fu6X"
            "rPhqG1tJs8HzJbZjKm0EsNo5ZVB4JpxrYpq/tH97FKNFO3IvuR3n/CCeCP8AoTfD/wD4Lof/AImvj3xjoD+FvHuq6AyyKlrcMsXm"
            "MrM0R+aNiV4yUKnt16DpX1r4D8eWnjXTruGawm0bxDpcgttZ0G7YGfT5iMgZHEkTj5o5V+WReRghgPHf2lNM8rxVoes+fn7TaPa+"
            "Vt+75T7t2c8587GMcbe+ePruCMzrQx7w1WTamurb1Wv5XPGz/CU5YZVoK3K/wen52MX4CTTL4+1C3WVxC+ns7RhjtZlkjCkjoSAz"
            "YPbJ9a+ha8E+AGn+b4k1jVvOx9ntkt/K2/e8xt2c54x5XTHO72597r6XPGni5W7L8jjypNYdX8woooryD0gooooAKy/Emh2/iXwp"
            "faHdNtS6iKh8E7HByrYBGcMFOM84wa1KKqEnCSlHdClFSTi9meVfs86NPpPiDxZbarp4t9RtPs0J8xBvjDeYSA391tqHg4OFPPFb"
            "v7Kq3i/s66tosU8cHju0v9UstWubj53GqiZ2LTSYYTvta3JcbwQoGTjFd/omn6fbaxf6hBbJHeXiRLPIowZRHuC57ZG8jPXGB0Ax"
            "yvjP4da3P4pfxz8NPEUPhnxU8ax3yz2/n2Wtxx8xRXcfVWBAQTp+8SNnUZ+Xb8vnuN9rmVSrJWvy/hFL7r3OjB4T2eFjTT2v+LuV"
            "Pg14Z+I+kfFa+vtYgv7DTwJP7Vkvydt4/wA20qxyJGD/ADb1OMbvm+fDcN4jPj+8/bV8T3PwSXwzG9l4es7XxCuvefFbG4eWSS3L"
            "rDhpZxBtCyfMqpuUsDgV1Mlr+1drq/2Zq3iz4beH7SQ5fVNHtbu9uoMcjy4bk+U24gKd3RWYjkCuv0nwvpnw78Cw6D4Y85Z7q7DS"
            "392/nXF5dSNmS5uZGGZJHwctj0AAAAHmYnFqeyRvh8M4nLfsqreL+zrq2ixTxweO7S/1Sy1a5uPncaqJnYtNJhhO+1rclxvBCgZO"
            "MVa+DXhn4j6R8Vr6+1iC/sNPAk/tWS/J23j/ADbSrHIkYP8ANvU4xu+b58Nb8Z/DrW5/FL+Ofhp4ih8M+KnjWO+We38+y1uOPmKK"
            "7j6qwICCdP3iRs6jPy7cSS1/au11f7M1bxZ8NvD9pIcvqmj2t3e3UGOR5cNyfKbcQFO7orMRyBV0cYoxexFXCOUkN0kx3n7e/i25"
            "8OqY9MsvC1ra62sf7pTfvOZLYyrx5ri2yBIN21fl3DpUn7RNiLv4f6QYbMT3p1VIISke6Q745MouOfmKpwOpA9BXoHgzwZongTws"
            "miaJHMytI1zdXl1J5tzfXD8yXE8h5klc8lj7AAKABP4h0/T9Qisvt1sk7WtyLqAOMhJFVlD46ZG84z0OCOQCNclxPssxpVUtn+n9"
            "fIvGUOfDTpvr/mcX8PfC/wDwiXgK002Vdt5J/pF3zn96wGR1I+UBVyODtz3rqaKK+1q1JVZuct2edTgqcVCOyCiiisywooooAKKK"
            "KALWnybL5RkAMCpzW1XOAkMCCQRyCK34JlngWRSOeo9D6V8rxBh2pxrLZ6P+v62PQwU9HEkrG1yG/lvNPktLL7XFBIZXi8xY/mA+"
            "Q5PoST/Oqut+MLDw54nsNP1tPsGnXkMhXV7mRUtlmXBEBb+Fiu9sttB24XcSQvR186eg4tJN9RkLSPbxvLF5UjKC0e7dtOORnvin"
            "1HcXFvaWkt3dzxwQQoZJJZWCoigZLMTwAAMkmsXw14ot/FEupzafayNptrc/Z7bUgwMN9hRvaPoSFfemcFTtyrHkKAotpvob1ZWq"
            "SbrhIwRhVz+J/wD1CtN3WOMu7AKOpNYEshlneQ5+Y55OcV72Q4dzrOq9o/m/+AcOMnaPL3GUUUV9ceaFFFFABRRRQAUUUUAFWLS7"
            "a2k5yYz1X+oqvRWdajCtBwmrplRk4u6Nq8stN1nS3s9Qs7a/s5sb4LiNZI3wQRlWBBwQDz3FcJ/wprw/Z/uvDfiHxX4atT8z2eka"
            "q8cTv3kIfcdxAUdcYUcV1mnSOt6kYY7Wzle3T/61bNfDZhhHg6vs07p6ntYbFTcbxdjz63+Dvhd7uK58Rahr3ip4HD2w17UHuEgI"
            "OTtUbVIbC7gwYHaOOue8ggtrKyjtraGK3t4UEccUahEjRRgAAcAADGKlrL1SRxOsYYhNuSvrz/8AWqMFhXiqqpXsPEYmSjzSdyO9"
            "vTO3lxkiMf8Aj1U6KK+6w+HhQgqdNaHiTm5u7CiiitiQooooAKKKKACiiuP8UeLjZSnT9JkU3Cn97NgMI/8AZGeCfX06dennZpmu"
            "Hyyg8RiXZdF1b7Jd/wCmdmBwFbHVVSorX8F5s6DU9b03SIt17cqr4ysS8u3XGB+BGTx71x9/8QLuTcmnWccC/MBJKd7Y7EDoD7HI"
            "/rx7u8srSSOzuxLMzHJJPUk02vyPNOOcfi244d+zj5av7/8AKx+hYHhbCYdJ1vfl57fd/nc6fRfGN9beKbXUdXvLqe2iDB4ocANl"
            "WA+UYU8kcn09q7f/AIWp4e/589T/AO/af/F15DRXgUs8xkL3nzN63lq/vZ6NbJsJVabja2mmi/A9e/4Wp4e/589T/wC/af8Axdcj"
            "4m8azaj4hhv9EuLy1ijgEZjlxgtlsnbkqeCOvpXH0U6meYyaspW81o/vQqOS4SlLmUb+uq+462x8falAoS+t4rsAH5h+7cnPcjI9"
            "ugrsNK8R6Vq+EtrjZMf+WEvyv36DoeBngnHevIqK9rLON8xwbSrS9pHtLf5S3v63OLHcMYPEJumuSXdbfdt91j3KiuC8NeMZFnWx"
            "1qfdG2FjuW6oemGPcf7R5z19R3tfreT5zhs1o+2w723T3T8/0Z+e5jltbAVfZ1l6Powooor1jgCiiigDn/F2tNpOjeXAcXNzmNDk"
            "goMfMwI7jIxz1Oe1eW10nji58/xa8Wzb5ESR5zndkbs+33sfhXN1+D8Y5nPG5lODfu024pem/wB7/Q/VuHMFHDYKEkvenq/nt+AU"
            "UUV8qe8FFFFABRRRQAUUUUAFeieBtaa7sm0mc5kt13RsSSWTPQ/TIH0I44rzutXwzc/ZfFthLs35lEeM4++Nufw3Zr6DhjM55fmN"
            "OcX7smoy9G/03+R5GeYKOLwc4tapXXqv89j12iiiv6CPyI//2Q=="
        ),
        "multiple_choice": (
            ("image_text", "Which city was this person born in?", "B",
             {"A": "Nagoya, Japan", "B": "Tbilisi, Georgia", "C": "Mendoza, Argentina", "D": "Ljubljana, Slovenia"}),
            ("image_text", "What is this person's occupation?", "D",
             {"A": "pastry chef", "B": "textile designer", "C": "structural engineer", "D": "botanist"}),
            ("image_text", "What hobby is this person known for?", "D",
             {"A": "Painting", "B": "Fencing", "C": "Baking sourdough", "D": "Playing chess"}),
            ("image_text", "What color is this person's shirt in the image?", "D",
             {"A": "green", "B": "teal", "C": "purple", "D": "orange"}),
            ("image_text", "Which organisation does this person work for?", "A",
             {"A": "Silverline Transit", "B": "Lumen Atelier", "C": "Greenhollow Trust", "D": "Cobalt Foundry"}),
            ("text", "In what year was Liora Marchetti born?", "C",
             {"A": "1986", "B": "1989", "C": "1982", "D": "1993"}),
            ("text", "Where did Liora Marchetti study?", "D",
             {"A": "University of Eastmere", "B": "Ostrander University", "C": "Caldwell College", "D": "Linford Polytechnic"}),
            ("text", "What is Liora Marchetti's favourite food?", "D",
             {"A": "falafel", "B": "moussaka", "C": "paella", "D": "curry"}),
            ("text", "What pet does Liora Marchetti have at home?", "A",
             {"A": "a border collie", "B": "a rabbit", "C": "a grey parrot", "D": "a ferret"}),
            ("text", "What is Liora Marchetti's profession?", "C",
             {"A": "veterinarian", "B": "ferry captain", "C": "botanist", "D": "violin maker"}),
        ),
        "generation": (
            ("image_text", "What does this person do, and where?", "This person works as a botanist at Silverline Transit."),
            ("image_text", "Where and when was this person born?", "This person was born in Tbilisi, Georgia in 1982."),
            ("text", "Where did Liora Marchetti study, and what is their hobby?", "Liora Marchetti studied at Linford Polytechnic and enjoys playing chess."),
            ("text", "What pet and food does Liora Marchetti love?", "Liora Marchetti lives with a border collie and loves curry."),
        ),
        "cloze": (
            ("image_text", "This person was born in the city of __.", "Tbilisi"),
            ("image_text", "This person works at __.", "Silverline Transit"),
            ("text", "Liora Marchetti studied at __.", "Linford Polytechnic"),
            ("text", "Liora Marchetti's favourite food is __.", "curry"),
        ),
    },
)
"""Each person: biography, portrait, and questions as ``(modality, question, answer[, options])`` tuples."""


@functools.cache
def strict_pool() -> tuple[Profile, ...]:
    """The pool's people as profiles (decoded on first use)."""
    out = []
    for person in _POOL:
        out.append(
            Profile(
                id=person["id"],
                name=person["name"],
                biography=dict(person["biography"]),
                images=(base64.b64decode("".join(person["portrait_jpeg_base64"])),),
                split=None,
                question=person["question"],
                answer=person["answer"],
                multiple_choice=tuple(
                    MultipleChoice(question=q, options=options, correct=correct, modality=Modality(m))
                    for m, q, correct, options in person["multiple_choice"]
                ),
                generation=tuple(
                    Generation(question=q, ground_truth=a, modality=Modality(m)) for m, q, a in person["generation"]
                ),
                cloze=tuple(Cloze(question=q, ground_truth=a, modality=Modality(m)) for m, q, a in person["cloze"]),
            )
        )
    return tuple(out)
