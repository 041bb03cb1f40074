/*
 * ho_fpga.c - the fpga backend: the board through VFIO (Linux's user-space device
 * access), start-up only. Opens the container /dev/vfio/vfio and the configured IOMMU
 * group, attaches the group with the type-1 IOMMU, takes the group's first device, maps
 * its BAR0 (the doorbell and set-up registers) and maps both rings for DMA. After that
 * the host end of the rings (ho_offload.c) runs unchanged: the doorbell stores land in
 * BAR0, the board writes events into host memory, the host polls their phase bytes.
 *
 * BAR0 register map (32-bit little-endian unless noted):
 *   0x00 cmd_tail   0x04 ev_head   (struct tkx_off_regs: the doorbells)
 *   0x08 ctrl: bit 0 enable       0x0c ring_log2
 *   0x10 cmd ring IOVA (64)        0x18 event ring IOVA (64)
 *   0x20 n_levels                  0x24 n_books     0x28 id: 0x544b5831 ("TKX1")
 *
 * Every failure before the board is running closes what was opened and says what to do;
 * the usual one on a machine without the board is the first: no /dev/vfio/vfio.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <linux/vfio.h>

#include "ho_internal.h"

#define HO_FPGA_ID 0x544b5831u
#define HO_IOVA_CMD 0x10000000ull
#define HO_IOVA_EV 0x20000000ull

struct ho_fpga {
	int container;
	int group;
	int device;
	volatile uint8_t *bar0;
	size_t bar0_len;
	struct ho_chan *ch;
};

static int ho_fpga_fail(char *err, size_t errlen, int e, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static int ho_fpga_fail(char *err, size_t errlen, int e, const char *fmt, ...)
{
	if (err && errlen) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	return -e;
}

static void ho_fpga_close(void *dev)
{
	struct ho_fpga *f = dev;
	if (f == NULL)
		return;
	if (f->bar0) {
		*(volatile uint32_t *)(f->bar0 + 0x08) = 0; /* disable before unmapping DMA */
		munmap((void *)(uintptr_t)f->bar0, f->bar0_len);
	}
	if (f->device >= 0)
		close(f->device);
	if (f->group >= 0)
		close(f->group);
	if (f->container >= 0)
		close(f->container);
	free(f);
}

/* The first device of IOMMU group `num` (sysfs), e.g. 0000:03:00.0. */
static int ho_fpga_device_name(const char *num, char *name, size_t len)
{
	char path[128];
	snprintf(path, sizeof(path), "/sys/kernel/iommu_groups/%s/devices", num);
	DIR *d = opendir(path);
	if (d == NULL)
		return -errno;
	struct dirent *e;
	int rc = -ENODEV;
	while ((e = readdir(d)) != NULL)
		if (e->d_name[0] != '.') {
			size_t n = strnlen(e->d_name, sizeof(e->d_name));
			if (n >= len) {
				rc = -ENAMETOOLONG;
				break;
			}
			memcpy(name, e->d_name, n + 1);
			rc = 0;
			break;
		}
	closedir(d);
	return rc;
}

static int ho_fpga_map_dma(struct ho_fpga *f, void *va, size_t len, uint64_t iova)
{
	struct vfio_iommu_type1_dma_map m;
	memset(&m, 0, sizeof(m));
	m.argsz = sizeof(m);
	m.flags = VFIO_DMA_MAP_FLAG_READ | VFIO_DMA_MAP_FLAG_WRITE;
	m.vaddr = (uint64_t)(uintptr_t)va;
	m.iova = iova;
	m.size = (len + 4095) & ~(size_t)4095;
	return ioctl(f->container, VFIO_IOMMU_MAP_DMA, &m) == 0 ? 0 : -errno;
}

int ho_fpga_open(struct ho_chan *ch, const char *group, uint32_t n_levels, uint32_t n_books,
		 char *err, size_t errlen)
{
	char gpath[64], num[24], devname[64];
	int rc;

	if (group == NULL || group[0] == '\0')
		return ho_fpga_fail(err, errlen, EINVAL,
				    "offload fpga: offload.vfio_group is not set: name the board's "
				    "IOMMU group (ls /sys/kernel/iommu_groups/*/devices)");
	const char *n = strncmp(group, "/dev/vfio/", 10) == 0 ? group + 10 : group;
	if (n[0] == '\0' || strlen(n) >= sizeof(num) || strspn(n, "0123456789") != strlen(n))
		return ho_fpga_fail(err, errlen, EINVAL,
				    "offload fpga: vfio_group '%s' is not a group number or "
				    "/dev/vfio/N", group);
	snprintf(num, sizeof(num), "%s", n);
	snprintf(gpath, sizeof(gpath), "/dev/vfio/%s", num);

	struct ho_fpga *f = calloc(1, sizeof(*f));
	if (f == NULL)
		return ho_fpga_fail(err, errlen, ENOMEM, "offload fpga: out of memory");
	f->container = f->group = f->device = -1;
	f->ch = ch;

	f->container = open("/dev/vfio/vfio", O_RDWR | O_CLOEXEC);
	if (f->container < 0) {
		int e = errno;
		ho_fpga_close(f);
		return ho_fpga_fail(err, errlen, e,
				    "offload fpga: cannot open /dev/vfio/vfio: %s (no VFIO on this "
				    "machine: modprobe vfio-pci and bind the board to it, or use "
				    "offload.target sw or sim)", strerror(e));
	}
	if (ioctl(f->container, VFIO_GET_API_VERSION) != VFIO_API_VERSION ||
	    ioctl(f->container, VFIO_CHECK_EXTENSION, VFIO_TYPE1_IOMMU) <= 0) {
		ho_fpga_close(f);
		return ho_fpga_fail(err, errlen, ENOTSUP,
				    "offload fpga: the kernel's VFIO lacks API %d with the type-1 "
				    "IOMMU", VFIO_API_VERSION);
	}
	f->group = open(gpath, O_RDWR | O_CLOEXEC);
	if (f->group < 0) {
		int e = errno;
		ho_fpga_close(f);
		return ho_fpga_fail(err, errlen, e,
				    "offload fpga: cannot open %s: %s (is the board bound to "
				    "vfio-pci, and is %s its IOMMU group?)", gpath, strerror(e), num);
	}
	struct vfio_group_status gs = {.argsz = sizeof(gs)};
	if (ioctl(f->group, VFIO_GROUP_GET_STATUS, &gs) < 0 ||
	    !(gs.flags & VFIO_GROUP_FLAGS_VIABLE)) {
		ho_fpga_close(f);
		return ho_fpga_fail(err, errlen, EBUSY,
				    "offload fpga: group %s is not viable: bind every device in "
				    "/sys/kernel/iommu_groups/%s/devices to vfio-pci", num, num);
	}
	if (ioctl(f->group, VFIO_GROUP_SET_CONTAINER, &f->container) < 0 ||
	    ioctl(f->container, VFIO_SET_IOMMU, VFIO_TYPE1_IOMMU) < 0) {
		int e = errno;
		ho_fpga_close(f);
		return ho_fpga_fail(err, errlen, e, "offload fpga: group %s: IOMMU set-up: %s",
				    num, strerror(e));
	}
	rc = ho_fpga_device_name(num, devname, sizeof(devname));
	if (rc == 0) {
		f->device = ioctl(f->group, VFIO_GROUP_GET_DEVICE_FD, devname);
		if (f->device < 0)
			rc = -errno;
	}
	if (rc < 0) {
		ho_fpga_close(f);
		return ho_fpga_fail(err, errlen, -rc, "offload fpga: group %s: no device: %s",
				    num, strerror(-rc));
	}
	struct vfio_region_info ri = {.argsz = sizeof(ri), .index = VFIO_PCI_BAR0_REGION_INDEX};
	if (ioctl(f->device, VFIO_DEVICE_GET_REGION_INFO, &ri) < 0 || ri.size < 0x30 ||
	    !(ri.flags & VFIO_REGION_INFO_FLAG_MMAP)) {
		ho_fpga_close(f);
		return ho_fpga_fail(err, errlen, ENODEV,
				    "offload fpga: %s: BAR0 missing or not mappable", devname);
	}
	void *bar = mmap(NULL, ri.size, PROT_READ | PROT_WRITE, MAP_SHARED, f->device,
			 (off_t)ri.offset);
	if (bar == MAP_FAILED) {
		int e = errno;
		ho_fpga_close(f);
		return ho_fpga_fail(err, errlen, e, "offload fpga: %s: map BAR0: %s", devname,
				    strerror(e));
	}
	f->bar0 = bar;
	f->bar0_len = ri.size;
	if (*(volatile uint32_t *)(f->bar0 + 0x28) != HO_FPGA_ID) {
		ho_fpga_close(f);
		return ho_fpga_fail(err, errlen, ENODEV,
				    "offload fpga: %s is not a tokex top-of-book board (id "
				    "register)", devname);
	}
	rc = ho_fpga_map_dma(f, ch->cmd, (size_t)ch->size * sizeof(*ch->cmd), HO_IOVA_CMD);
	if (rc == 0)
		rc = ho_fpga_map_dma(f, ch->ev, (size_t)ch->size * sizeof(*ch->ev), HO_IOVA_EV);
	if (rc < 0) {
		ho_fpga_close(f);
		return ho_fpga_fail(err, errlen, -rc, "offload fpga: DMA map of the rings: %s",
				    strerror(-rc));
	}
	unsigned log2 = 0;
	while ((1u << log2) < ch->size)
		log2++;
	*(volatile uint32_t *)(f->bar0 + 0x0c) = log2;
	*(volatile uint64_t *)(f->bar0 + 0x10) = HO_IOVA_CMD;
	*(volatile uint64_t *)(f->bar0 + 0x18) = HO_IOVA_EV;
	*(volatile uint32_t *)(f->bar0 + 0x20) = n_levels;
	*(volatile uint32_t *)(f->bar0 + 0x24) = n_books;
	*(volatile uint32_t *)(f->bar0 + 0x08) = 1;
	ch->regs = (struct tkx_off_regs *)(uintptr_t)f->bar0;
	ch->dev = f;
	ch->exec = NULL;
	ch->dev_close = ho_fpga_close;
	return 0;
}
