"""Reading X-rays, preparing and cleaning masks, measuring and drawing them."""
