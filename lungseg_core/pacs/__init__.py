"""The hospital's PACS over DICOMweb: find chest radiographs (QIDO-RS), bring them in as cases
(WADO-RS, through the one X-ray reader), and send an approved case back as a DICOM SEG with its lung
measurements as a DICOM SR (STOW-RS). What the store keeps of a PACS source: `sources`."""
