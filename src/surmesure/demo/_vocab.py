"""Fixed vocabularies of the demo shop: the category tree, brands, words and names.

Pure data. The random parts (which brand makes what, prices, tastes) are drawn by
:mod:`surmesure.demo.generator` from a seeded generator; these lists only give them
readable names.
"""

from __future__ import annotations

__all__ = [
    "ADJECTIVES",
    "BRANDS",
    "COLORS",
    "FIRST_NAMES",
    "LAST_NAMES",
    "LOCALES",
    "MATERIALS",
    "TREE",
    "USER_AGENTS",
]

#: root -> leaf -> (median price in EUR, nouns used in titles). Leaf names are unique
#: across the tree, so a leaf name alone identifies a category (events send it).
TREE: dict[str, dict[str, tuple[float, tuple[str, ...]]]] = {
    "Women": {
        "Dresses": (59.0, ("Wrap Dress", "Midi Dress", "Shirt Dress", "Maxi Dress")),
        "Tops": (29.0, ("Blouse", "T-Shirt", "Camisole", "Knit Top")),
        "Jeans": (69.0, ("Skinny Jeans", "Mom Jeans", "Flared Jeans", "Straight Jeans")),
        "Skirts": (39.0, ("Pleated Skirt", "Denim Skirt", "Pencil Skirt")),
    },
    "Men": {
        "Shirts": (45.0, ("Oxford Shirt", "Linen Shirt", "Flannel Shirt", "Polo")),
        "Trousers": (59.0, ("Chinos", "Cargo Trousers", "Wool Trousers")),
        "Jackets": (129.0, ("Bomber Jacket", "Parka", "Denim Jacket", "Blazer")),
        "Knitwear": (69.0, ("Crew Jumper", "Cardigan", "Turtleneck")),
    },
    "Shoes": {
        "Sneakers": (89.0, ("Court Sneaker", "Runner", "High-Top", "Slip-On")),
        "Boots": (139.0, ("Chelsea Boot", "Hiking Boot", "Ankle Boot")),
        "Sandals": (45.0, ("Slide", "Strappy Sandal", "Espadrille")),
    },
    "Home": {
        "Kitchen": (35.0, ("Chef Knife", "Cast Iron Pan", "Kettle", "Cutting Board")),
        "Bedding": (69.0, ("Duvet Cover", "Pillow", "Throw", "Sheet Set")),
        "Lighting": (79.0, ("Table Lamp", "Pendant Light", "Floor Lamp")),
        "Decor": (29.0, ("Vase", "Candle", "Wall Print", "Cushion")),
    },
    "Beauty": {
        "Skincare": (25.0, ("Serum", "Face Cream", "Cleanser", "Sun Cream")),
        "Fragrance": (69.0, ("Eau de Parfum", "Eau de Toilette", "Body Mist")),
        "Makeup": (19.0, ("Lipstick", "Mascara", "Foundation", "Eyeliner")),
    },
    "Electronics": {
        "Headphones": (99.0, ("Wireless Earbuds", "Over-Ear Headphones", "Sport Earphones")),
        "Phones": (449.0, ("Smartphone", "Rugged Phone", "Compact Phone")),
        "Laptops": (899.0, ("Ultrabook", "Gaming Laptop", "Convertible Laptop")),
        "Cameras": (549.0, ("Mirrorless Camera", "Action Camera", "Instant Camera")),
    },
    "Sports": {
        "Running": (49.0, ("Running Vest", "Running Tights", "Hydration Belt")),
        "Cycling": (79.0, ("Cycling Jersey", "Bike Helmet", "Bike Light")),
        "Yoga": (35.0, ("Yoga Mat", "Yoga Block", "Yoga Leggings")),
    },
    "Books": {
        "Fiction": (14.0, ("Novel", "Short Stories", "Thriller")),
        "Cookbooks": (24.0, ("Cookbook", "Baking Book", "Vegetarian Cookbook")),
        "Travel Guides": (19.0, ("City Guide", "Hiking Guide", "Road Trip Guide")),
    },
    "Kids": {
        "Toys": (25.0, ("Building Set", "Plush Toy", "Puzzle", "Wooden Train")),
        "Baby": (29.0, ("Baby Bodysuit", "Swaddle", "Teether")),
        "Kids Clothing": (22.0, ("Kids Hoodie", "Kids Raincoat", "Kids Pyjamas")),
    },
}

#: root -> brand names; each brand sells in every leaf of its root.
BRANDS: dict[str, tuple[str, ...]] = {
    "Women": ("Maison Lune", "Atelier Nord", "Vela", "Rosa Alba", "Kiko & Co"),
    "Men": ("Harbor", "Oakline", "Bristol Row", "Montagne", "Steel & Thread"),
    "Shoes": ("Stride", "Pas Léger", "Trailhead", "Cobble"),
    "Home": ("Foyer", "Maison Claire", "Hearth", "Nordlys", "Petit Atelier"),
    "Beauty": ("Lumière", "Botanica", "Skinlab", "Velours"),
    "Electronics": ("Voltix", "Sonora", "Pixelle", "Kestrel"),
    "Sports": ("Peakform", "Velocity", "Zen Motion", "Alpine Co"),
    "Books": ("Quill Press", "Éditions Sable", "Compass Books"),
    "Kids": ("Little Fox", "Tiny Acorn", "Playwell", "Moon & Bear"),
}

ADJECTIVES = (
    "Classic", "Essential", "Everyday", "Premium", "Soft", "Light", "Urban", "Vintage",
    "Organic", "Recycled", "Compact", "Signature", "Modern", "Natural", "Bold", "Cosy",
)  # fmt: skip

COLORS = (
    "black", "white", "navy", "sand", "olive", "red", "sky blue", "charcoal", "forest green",
    "terracotta", "cream", "burgundy",
)  # fmt: skip

MATERIALS = ("cotton", "linen", "wool", "leather", "recycled polyester", "oak", "steel", "ceramic", "glass")

FIRST_NAMES = (
    "Camille", "Louis", "Emma", "Hugo", "Léa", "Lucas", "Chloé", "Gabriel", "Manon", "Arthur",
    "Inès", "Jules", "Sarah", "Adam", "Zoé", "Nathan", "Alice", "Noah", "Lina", "Paul",
    "Olivia", "James", "Sofia", "Liam", "Mia", "Ethan", "Ava", "Oscar", "Nora", "Leo",
    "Amira", "Yanis", "Elena", "Mateo", "Clara", "Samuel", "Jade", "Victor", "Rose", "Malik",
)  # fmt: skip

LAST_NAMES = (
    "Martin", "Bernard", "Dubois", "Thomas", "Robert", "Richard", "Petit", "Durand", "Leroy",
    "Moreau", "Simon", "Laurent", "Lefebvre", "Michel", "Garcia", "David", "Bertrand", "Roux",
    "Smith", "Jones", "Brown", "Taylor", "Wilson", "Evans", "Rossi", "Müller", "Novak", "Silva",
    "Costa", "Haddad", "Nguyen", "Kowalski", "Jansen", "Moreno", "Fischer", "Diallo",
)  # fmt: skip

#: (locale, IANA time zone, share of people)
LOCALES: tuple[tuple[str, str, float], ...] = (
    ("fr-FR", "Europe/Paris", 0.55),
    ("en-GB", "Europe/London", 0.2),
    ("de-DE", "Europe/Berlin", 0.15),
    ("es-ES", "Europe/Madrid", 0.1),
)

#: (device type, user agent)
USER_AGENTS: tuple[tuple[str, str], ...] = (
    (
        "desktop",
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/124.0 Safari/537.36",
    ),
    (
        "desktop",
        "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_4) AppleWebKit/605.1.15 (KHTML, like Gecko) "
        "Version/17.4 Safari/605.1.15",
    ),
    ("desktop", "Mozilla/5.0 (X11; Linux x86_64; rv:125.0) Gecko/20100101 Firefox/125.0"),
    (
        "mobile",
        "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
        "Version/17.4 Mobile/15E148 Safari/604.1",
    ),
    (
        "mobile",
        "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/124.0 Mobile Safari/537.36",
    ),
    (
        "tablet",
        "Mozilla/5.0 (iPad; CPU OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
        "Version/17.4 Mobile/15E148 Safari/604.1",
    ),
)
